# compel_add_parasite(<name> SOURCES <c files...>)
#
# Builds a freestanding, position-independent parasite blob from the compel runtime
# plus the given sources, fails the build if the linked image needs any relocation
# (the blob is copied to an arbitrary address in the victim and never relocated),
# and embeds the flat binary into a static library <name>. C++ code gets at it with
# FLK_PARASITE_BLOB(<name>) from <flakelab/compel/parasite_blob.h>.
get_filename_component(_compel_root "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
set(COMPEL_PARASITE_DIR "${_compel_root}/parasite" CACHE INTERNAL "compel parasite runtime sources")
set(COMPEL_INCLUDE_DIR "${_compel_root}/include" CACHE INTERNAL "compel public headers")

function(compel_add_parasite name)
  cmake_parse_arguments(P "" "" "SOURCES" ${ARGN})
  set(out "${CMAKE_CURRENT_BINARY_DIR}/parasite-${name}")
  file(MAKE_DIRECTORY "${out}")
  # Deliberately not the project's compile flags: no sanitizers, no stack protector,
  # no SSE (registers are the victim's), no unwind tables, hidden symbols.
  set(cflags -std=gnu11 -O2 -fPIE -ffreestanding -nostdlib -fno-stack-protector
      -fno-asynchronous-unwind-tables -fno-unwind-tables -fvisibility=hidden
      -mgeneral-regs-only -fcf-protection=none -fno-jump-tables -fno-tree-loop-distribute-patterns
      -Wall -Wextra -Werror -I${COMPEL_INCLUDE_DIR} -I${COMPEL_PARASITE_DIR})
  set(srcs "${COMPEL_PARASITE_DIR}/head.S" "${COMPEL_PARASITE_DIR}/runtime.c")
  foreach(s ${P_SOURCES})
    get_filename_component(abs "${s}" ABSOLUTE)
    list(APPEND srcs "${abs}")
  endforeach()
  set(objs)
  foreach(src ${srcs})
    get_filename_component(stem "${src}" NAME)
    set(obj "${out}/${stem}.o")
    add_custom_command(OUTPUT "${obj}"
      COMMAND ${CMAKE_C_COMPILER} ${cflags} -c "${src}" -o "${obj}"
      DEPENDS "${src}" "${COMPEL_PARASITE_DIR}/flk_parasite.h" "${COMPEL_PARASITE_DIR}/syscall.h"
              "${COMPEL_INCLUDE_DIR}/flakelab/compel/parasite_abi.h"
      COMMENT "parasite ${name}: compiling ${stem}" VERBATIM)
    list(APPEND objs "${obj}")
  endforeach()
  set(elf "${out}/${name}.elf")
  set(bin "${out}/${name}.bin")
  add_custom_command(OUTPUT "${bin}"
    COMMAND ${CMAKE_LINKER} -pie --no-dynamic-linker -z noexecstack --no-warn-rwx-segments --build-id=none
            -T "${COMPEL_PARASITE_DIR}/parasite.lds" -o "${elf}" ${objs}
    COMMAND ${CMAKE_COMMAND} -DELF=${elf} -DREADELF=${CMAKE_READELF}
            -P "${COMPEL_PARASITE_DIR}/check_no_relocs.cmake"
    COMMAND ${CMAKE_OBJCOPY} -O binary --only-section=.text --only-section=.rodata
            --only-section=.data "${elf}" "${bin}"
    DEPENDS ${objs} "${COMPEL_PARASITE_DIR}/parasite.lds" "${COMPEL_PARASITE_DIR}/check_no_relocs.cmake"
    COMMENT "parasite ${name}: linking flat blob" VERBATIM)
  set(asm "${out}/${name}_embed.S")
  file(WRITE "${asm}"
    "\t.section .rodata\n\t.balign 64\n\t.globl flk_blob_${name}_data\n"
    "flk_blob_${name}_data:\n\t.incbin \"${bin}\"\nflk_blob_${name}_end:\n"
    "\t.balign 8\n\t.globl flk_blob_${name}_size\nflk_blob_${name}_size:\n"
    "\t.quad flk_blob_${name}_end - flk_blob_${name}_data\n"
    "\t.section .note.GNU-stack,\"\",@progbits\n")
  set_source_files_properties("${asm}" PROPERTIES OBJECT_DEPENDS "${bin}" LANGUAGE ASM)
  add_library(${name} STATIC "${asm}")
  # A flag-free assembly object: sanitizer options are irrelevant to .incbin.
endfunction()
