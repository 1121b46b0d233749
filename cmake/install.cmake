# Installing flakelab like a tool: `cmake --install BUILD [--prefix /usr]` puts
#   bin/flakelab                                   the CLI
#   <dist-packages>/flakelab/                      the Python package (import flakelab)
#   share/man/man1/flakelab.1.gz                   the man page  } generated at build time from
#   share/bash-completion/completions/flakelab     completion    } the CLI's own --help
#   share/doc/flakelab/                            README, report formats, the example notebook
# and `cpack -G DEB` (run in BUILD) makes a .deb of the same files under /usr.
# <dist-packages> is Debian's lib/python3/dist-packages under /usr, else
# lib/python3.X/dist-packages (where Debian's python3 looks under /usr/local); chosen when
# installing, so `--prefix` and CPack get the right one.
include(GNUInstallDirs)

if(FLAKELAB_SANITIZE)
  message(STATUS "install: FLAKELAB_SANITIZE is on; no install rules or package (an instrumented build is not "
                 "for installing, and it has no Python module)")
  return()
endif()

set(FLAKELAB_INSTALL_PYTHON /usr/bin/python3)
execute_process(COMMAND ${FLAKELAB_INSTALL_PYTHON} -c "import sys; print('%d.%d' % sys.version_info[:2])"
                OUTPUT_VARIABLE FLAKELAB_PYTHON_VERSION OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "install: cannot run ${FLAKELAB_INSTALL_PYTHON} to learn its version (exit ${rc})")
endif()
set(FLAKELAB_PYTHON_INSTALL_DIR "" CACHE STRING
    "Python package directory relative to the install prefix (empty: Debian's choice, see above)")

# --- the man page and bash completion, from the binary's --help ------------------------------
set(FLAKELAB_DOC_DIR ${CMAKE_BINARY_DIR}/doc)
add_custom_command(
  OUTPUT ${FLAKELAB_DOC_DIR}/flakelab.1.gz ${FLAKELAB_DOC_DIR}/flakelab.bash
  COMMAND ${CMAKE_COMMAND} -E make_directory ${FLAKELAB_DOC_DIR}
  COMMAND ${FLAKELAB_INSTALL_PYTHON} ${PROJECT_SOURCE_DIR}/packaging/flakelab_docs.py $<TARGET_FILE:flakelab>
          --version ${PROJECT_VERSION} --man ${FLAKELAB_DOC_DIR}/flakelab.1
          --completion ${FLAKELAB_DOC_DIR}/flakelab.bash
  # -n: no name or time in the header, so the same build gives the same file (Debian policy).
  COMMAND gzip -9nf ${FLAKELAB_DOC_DIR}/flakelab.1
  DEPENDS flakelab ${PROJECT_SOURCE_DIR}/packaging/flakelab_docs.py
  COMMENT "flakelab: man page and bash completion from `flakelab --help`"
  VERBATIM)
add_custom_target(flakelab_docs ALL DEPENDS ${FLAKELAB_DOC_DIR}/flakelab.1.gz ${FLAKELAB_DOC_DIR}/flakelab.bash)

# --- install rules ----------------------------------------------------------------------------
install(TARGETS flakelab RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${FLAKELAB_DOC_DIR}/flakelab.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${FLAKELAB_DOC_DIR}/flakelab.bash DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
        RENAME flakelab)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/results/REPORTS.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/results/notebooks/triage.ipynb DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# The package directory is decided at install time, when the prefix is known (the escaped
# \${...} is expanded by cmake_install.cmake).
install(CODE "
  if(NOT \"${FLAKELAB_PYTHON_INSTALL_DIR}\" STREQUAL \"\")
    set(FLAKELAB_PY_DEST \"${FLAKELAB_PYTHON_INSTALL_DIR}\")
  elseif(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
    set(FLAKELAB_PY_DEST lib/python3/dist-packages)
  else()
    set(FLAKELAB_PY_DEST lib/python${FLAKELAB_PYTHON_VERSION}/dist-packages)
  endif()")
file(GLOB FLAKELAB_PY_PACKAGE_FILES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/pybind/flakelab/*.py)
install(TARGETS flakelab_py LIBRARY DESTINATION "\${FLAKELAB_PY_DEST}/flakelab")
install(FILES ${FLAKELAB_PY_PACKAGE_FILES} DESTINATION "\${FLAKELAB_PY_DEST}/flakelab")

# --- the .deb (cpack -G DEB in the build directory) -----------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME flakelab)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "checkpoint/restore flake hunter: replays scenarios pinned to chosen CPUs, records trials in SQLite")
set(CPACK_PACKAGE_CONTACT "flakelab maintainers <flakelab@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
# Shared-library dependencies from dpkg-shlibdeps; the Python module is built for this python3.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
string(REGEX REPLACE "^([0-9]+)\\.([0-9]+)$" "\\1" FLAKELAB_PYTHON_MAJOR "${FLAKELAB_PYTHON_VERSION}")
string(REGEX REPLACE "^([0-9]+)\\.([0-9]+)$" "\\2" FLAKELAB_PYTHON_MINOR "${FLAKELAB_PYTHON_VERSION}")
math(EXPR FLAKELAB_PYTHON_NEXT_MINOR "${FLAKELAB_PYTHON_MINOR} + 1")
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "python3 (>= ${FLAKELAB_PYTHON_VERSION}), python3 (<< ${FLAKELAB_PYTHON_MAJOR}.${FLAKELAB_PYTHON_NEXT_MINOR})")
# DataFrames and the notebook's charts; the CLI and `import flakelab` work without them.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "python3-pandas, python3-matplotlib")
set(CPACK_STRIP_FILES ON)
include(CPack)

# --- tests: install into a DESTDIR and a prefix, and build and inspect the .deb -----------------
# Label `packaging`: `ctest -LE packaging` leaves them out. Each takes seconds (the .deb ~10 s).
add_test(NAME install_tree
         COMMAND ${FLAKELAB_INSTALL_PYTHON} ${PROJECT_SOURCE_DIR}/packaging/tests/install_test.py install
                 ${CMAKE_BINARY_DIR} ${PROJECT_VERSION})
add_test(NAME install_deb
         COMMAND ${FLAKELAB_INSTALL_PYTHON} ${PROJECT_SOURCE_DIR}/packaging/tests/install_test.py deb
                 ${CMAKE_BINARY_DIR} ${PROJECT_VERSION})
# install_deb's cpack and install_tree both write into the build's install manifest.
set_tests_properties(install_tree install_deb PROPERTIES LABELS packaging TIMEOUT 600 RESOURCE_LOCK flakelab_install)
