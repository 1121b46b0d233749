# Fails the build if the parasite image carries relocations or dynamic symbols:
# the blob is copied verbatim into the victim and nobody would apply them.
execute_process(COMMAND ${READELF} -rW ${ELF} OUTPUT_VARIABLE relocs RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "readelf failed on ${ELF}")
endif()
if(NOT relocs MATCHES "There are no relocations in this file")
  message(FATAL_ERROR "parasite ${ELF} has relocations; it must be fully position independent:\n${relocs}")
endif()
