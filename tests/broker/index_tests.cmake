# core_index_tests (unit) and core_index_bench: subscription tree and retained index.
# Included from tests/CMakeLists.txt, so every path here is absolute.
wisp_add_test(NAME core_index_tests LABEL unit
  SOURCES ${PROJECT_SOURCE_DIR}/tests/broker/subscription_tree_test.cpp
          ${PROJECT_SOURCE_DIR}/tests/broker/retained_index_test.cpp
  LIBS wisp_core_index)
target_compile_options(core_index_tests PRIVATE -Wconversion -Wsign-conversion -Wold-style-cast)

find_package(benchmark CONFIG QUIET)
if(benchmark_FOUND AND EXISTS ${PROJECT_SOURCE_DIR}/tests/bench/core_index_bench.cpp)
  add_executable(core_index_bench ${PROJECT_SOURCE_DIR}/tests/bench/core_index_bench.cpp)
  target_link_libraries(core_index_bench PRIVATE wisp_core_index benchmark::benchmark)
  wisp_warnings(core_index_bench)
else()
  message(STATUS "Google Benchmark not found: core_index_bench not built")
endif()
