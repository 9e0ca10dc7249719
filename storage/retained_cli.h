// Offline retained-message management for `wisp retained ...` (the app wires the subcommand):
//   wisp retained clear FILTER --db FILE
// Works on the database file of a broker that is not running.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/result.h"

namespace storage {

// Deletes every retained message whose topic matches `filter` (protocol::topic_matches), in
// one transaction. The file must exist and be a healthy Wisp database. Returns the count.
protocol::Result<std::size_t, protocol::Error> clear_retained(const std::string& db_path,
                                                              std::string_view filter);

// `args` are the words after "retained" (a leading "retained" is skipped too). Prints the
// result on stdout, errors and usage on stderr. Returns 0 on success, 1 on failure, 2 on
// bad usage.
int retained_cli_main(std::vector<std::string> args);

}  // namespace storage
