# Run at build time (cmake -P) after skouter_bpf_tests is linked: writes CTEST_FILE,
# one ctest test per gtest suite of TEST_EXECUTABLE, named after the suite and running
# every test of it in one process (--gtest_filter=<suite>.*), so that the suite's tests
# share one load of the datapath (see DatapathFixture). gtest_discover_tests makes one
# process per test instead. The suites come from gtest's JSON listing, which holds
# their names whatever the test parameters print.
execute_process(COMMAND "${TEST_EXECUTABLE}" --gtest_list_tests
                        "--gtest_output=json:${CTEST_FILE}.json"
                RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output
                TIMEOUT 30)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "cannot list the tests of ${TEST_EXECUTABLE} (${result}):\n${output}")
endif()
file(READ "${CTEST_FILE}.json" listing)
string(JSON suites LENGTH "${listing}" testsuites)
set(content "")
math(EXPR last "${suites} - 1")
foreach(index RANGE ${last})
  string(JSON suite GET "${listing}" testsuites ${index} name)
  string(APPEND content
         "add_test([==[${suite}.*]==] [==[${TEST_EXECUTABLE}]==] [==[--gtest_filter=${suite}.*]==])\n"
         "set_tests_properties([==[${suite}.*]==] PROPERTIES WORKING_DIRECTORY "
         "[==[${TEST_WORKING_DIR}]==] ${TEST_PROPERTIES})\n")
endforeach()
file(WRITE "${CTEST_FILE}" "${content}")
