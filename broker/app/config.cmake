# wisp_config: the mosquitto.conf-syntax parser (broker/app/config.h). Included by
# broker/CMakeLists.txt; paths are absolute so the fragment works from any directory.
add_library(wisp_config STATIC ${PROJECT_SOURCE_DIR}/broker/app/config.cpp)
target_include_directories(wisp_config PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(wisp_config PUBLIC wisp_protocol)
wisp_warnings(wisp_config)
