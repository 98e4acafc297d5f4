# The test python.install: `cmake --install` into a scratch prefix, then
# /usr/bin/python3 imports the installed package (and nothing from the build
# tree) and runs a compiled graph through the installed libraries.
#   cmake -DBUILD_DIR=... -DWORK_DIR=... -DPYTHON=... -DPACKAGE_DIR=lib/python3/dist-packages -P RunInstallTest.cmake
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix
  RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${rc})")
endif()
set(check [=[
import numpy as np, chainjit as cj, sys
assert cj.__file__.startswith(sys.argv[1]), cj.__file__
g = cj.Graph("installed")
x = g.input("x", (3,))
g.output(cj.relu(x * 2.0).named("y"))
y = cj.compile(g, cache=False)(x=np.array([-1, 0.5, 2], np.float32))["y"]
assert y.tolist() == [0.0, 1.0, 4.0], y
print("installed package OK:", cj.__file__)
]=])
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env PYTHONPATH=${WORK_DIR}/prefix/${PACKAGE_DIR}
    ${PYTHON} -c "${check}" ${WORK_DIR}/prefix
  WORKING_DIRECTORY ${WORK_DIR}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the installed package does not work (${rc})")
endif()
