# Fails the build if the flakelab executable, linked with FLAKELAB_STATIC_DEPS, would load a
# shared library other than these C libraries. It carries its own static C++ runtime, so a
# shared C++ library (which needs libstdc++.so) would give the process two runtimes; any
# other library costs start time (third_party/CMakeLists.txt). For a new C library without
# a static archive, add it here; for a C++ one, give it a static flakelab:: dependency.
cmake_minimum_required(VERSION 3.25)
set(allowed libc.so.6 libm.so.6 libudev.so.1 ld-linux-x86-64.so.2)
execute_process(COMMAND readelf -dW ${ELF} OUTPUT_VARIABLE dynamic RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "readelf failed on ${ELF}")
endif()
string(REGEX MATCHALL "\\(NEEDED\\)[^\n]*\\[[^]\n]*\\]" needed "${dynamic}")
set(unexpected)
foreach(entry IN LISTS needed)
  string(REGEX REPLACE ".*\\[(.*)\\]" "\\1" lib "${entry}")
  if(NOT lib IN_LIST allowed)
    list(APPEND unexpected ${lib})
  endif()
endforeach()
if(unexpected)
  list(JOIN unexpected " " unexpected)
  list(JOIN allowed " " allowed)
  message(FATAL_ERROR "${ELF} needs ${unexpected}: with FLAKELAB_STATIC_DEPS it may only load ${allowed} "
                      "(see third_party/check_needed.cmake)")
endif()
