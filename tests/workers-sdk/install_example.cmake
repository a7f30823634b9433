# The workers SDK installs on its own and another project builds against it:
#   1. cmake --install <build> --component stepd-worker into a fresh prefix, and nothing else;
#   2. configure and build examples/worker-example with find_package(stepd-worker) from there;
#   3. run it with --help.
# Run by ctest (tests/CMakeLists.txt) with -DSDK_BUILD_DIR, -DEXAMPLE_DIR, -DWORK_DIR.
foreach(var SDK_BUILD_DIR EXAMPLE_DIR WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install_example.cmake: -D${var}=... is required")
  endif()
endforeach()

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${WORK_DIR})
run("cmake --install" ${CMAKE_COMMAND} --install ${SDK_BUILD_DIR} --component stepd-worker
    --prefix ${prefix})

# Exactly the SDK: its headers, its library and its package files.
file(GLOB_RECURSE installed RELATIVE ${prefix} ${prefix}/*)
list(SORT installed)
set(expected
  include/stepd/worker/client.hpp
  include/stepd/worker/error.hpp
  include/stepd/worker/function_host.hpp
  include/stepd/worker/worker.hpp)
foreach(f IN LISTS installed)
  if(f MATCHES "^include/")
    continue()
  elseif(f MATCHES "^lib/libstepd-worker\\.a$" OR f MATCHES
         "^lib/cmake/stepd-worker/stepd-worker(Config|ConfigVersion|Targets)(-[a-z]+)?\\.cmake$")
    continue()
  else()
    message(FATAL_ERROR "installed a file that is not the SDK's: ${f}\n(all: ${installed})")
  endif()
endforeach()
foreach(f IN LISTS expected ITEMS lib/libstepd-worker.a
          lib/cmake/stepd-worker/stepd-workerConfig.cmake
          lib/cmake/stepd-worker/stepd-workerConfigVersion.cmake
          lib/cmake/stepd-worker/stepd-workerTargets.cmake)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "not installed: ${f}\n(all: ${installed})")
  endif()
endforeach()
set(headers ${installed})
list(FILTER headers INCLUDE REGEX "^include/")
if(NOT headers STREQUAL expected)
  message(FATAL_ERROR "installed headers: ${headers}\nexpected: ${expected}")
endif()

find_program(CCACHE ccache)
set(launcher)
if(CCACHE)
  set(launcher -DCMAKE_CXX_COMPILER_LAUNCHER=${CCACHE})
endif()
find_program(NINJA ninja)
set(generator)
if(NINJA)
  set(generator -G Ninja)
endif()
run("configuring the example" ${CMAKE_COMMAND} -S ${EXAMPLE_DIR} -B ${WORK_DIR}/build ${generator}
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=${prefix} ${launcher})
run("building the example" ${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run("worker-example --help" ${WORK_DIR}/build/worker-example --help)
if(NOT run_output MATCHES "Usage: .*worker-example \\[options\\]")
  message(FATAL_ERROR "worker-example --help printed:\n${run_output}")
endif()
message(STATUS "worker-example built against ${prefix} and ran --help")
