# The find_package test: installs the build tree to a scratch prefix, checks
# the installed headers, then configures, builds and runs the consumer project
# of this directory against that prefix.
#
#   cmake -DBUILD_DIR=... -DWORK_DIR=... -DSOURCE_DIR=... -DGENERATOR=...
#         -DCXX_COMPILER=... -DBUILD_TYPE=... [-DLINK_FLAGS=...] -P RunConsumerTest.cmake
#
# LINK_FLAGS: linker flags of the consumer (the sanitizer runtimes, for a
# sanitized chainjit).

foreach(var BUILD_DIR WORK_DIR SOURCE_DIR GENERATOR CXX_COMPILER BUILD_TYPE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "RunConsumerTest.cmake needs -D${var}=...")
  endif()
endforeach()

function(run step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer test: ${step} failed (${rc}):\n${out}\n${err}")
  endif()
  message(STATUS "${step}: ok")
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${WORK_DIR})
run("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

# Public headers include only the standard library and chainjit's own
# headers, and the umbrella header includes every one of them.
file(GLOB_RECURSE headers RELATIVE ${prefix}/include ${prefix}/include/chainjit/*.h)
file(READ ${prefix}/include/chainjit/chainjit.h umbrella)
foreach(h IN LISTS headers)
  file(STRINGS ${prefix}/include/${h} bad REGEX "#[ ]*include[ ]*[<\"](fmt|boost|nlohmann|llvm|CLI|doctest)/")
  if(bad)
    message(FATAL_ERROR "consumer test: installed header ${h} includes a dependency: ${bad}")
  endif()
  if(NOT h STREQUAL "chainjit/chainjit.h")
    string(FIND "${umbrella}" "#include \"${h}\"" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "consumer test: include/chainjit/chainjit.h does not include ${h}")
    endif()
  endif()
endforeach()
message(STATUS "headers: ok")

# The installed tool finds the installed libraries (its RPATH is relative).
run("installed tool" ${prefix}/bin/chainjit --version)

# find_package must not look for chainjit's private dependencies.
run("configure" ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build -G ${GENERATOR}
    -DCMAKE_BUILD_TYPE=${BUILD_TYPE} -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
    "-DCMAKE_EXE_LINKER_FLAGS=${LINK_FLAGS}"
    -DCMAKE_PREFIX_PATH=${prefix}
    -DCMAKE_DISABLE_FIND_PACKAGE_fmt=ON -DCMAKE_DISABLE_FIND_PACKAGE_Boost=ON
    -DCMAKE_DISABLE_FIND_PACKAGE_nlohmann_json=ON -DCMAKE_DISABLE_FIND_PACKAGE_LLVM=ON
    -DCMAKE_DISABLE_FIND_PACKAGE_CLI11=ON)
run("build" ${CMAKE_COMMAND} --build ${WORK_DIR}/build --parallel 2)
run("run" ${WORK_DIR}/build/consumer)
message(STATUS "consumer output:\n${last_output}")
if(NOT last_output MATCHES "consumer: ok")
  message(FATAL_ERROR "consumer test: the consumer did not report success")
endif()
