// Orchestrates one benchmark run: builds the clients for a scenario, drives the phases
// (setup -> run -> drain -> stop) under a hard deadline, and reports the results.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "options.h"

namespace wisp_bench {

// An ordered list of results; printed as one key=value line and optionally as JSON.
using Value = std::variant<std::int64_t, double, std::string>;
using Summary = std::vector<std::pair<std::string, Value>>;

std::string format_summary_line(const Summary& s);
std::string format_summary_json(const Summary& s);

// /proc/PID/status VmRSS in KiB, or -1.
std::int64_t read_rss_kib(int pid);

// Runs the benchmark described by `o`; fills `out`. Returns the process exit code.
int run_bench(const Options& o, Summary& out);

}  // namespace wisp_bench
