# wisp_core_index: subscription tree and retained index (broker/core). Included from
# broker/CMakeLists.txt, so every path here is absolute.
add_library(wisp_core_index STATIC
  ${PROJECT_SOURCE_DIR}/broker/core/subscription_tree.cpp
  ${PROJECT_SOURCE_DIR}/broker/core/retained_index.cpp
)
target_include_directories(wisp_core_index PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(wisp_core_index PUBLIC wisp_protocol)
wisp_warnings(wisp_core_index)
# The stricter STYLE.md set on top of the project's baseline. -Wnull-dereference is left out:
# g++ 12 reports false positives with it at -O3 (Release), which broke scripts/run.
target_compile_options(wisp_core_index PRIVATE -Wconversion -Wsign-conversion -Wold-style-cast)
