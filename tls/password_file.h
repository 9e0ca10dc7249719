// Mosquitto password files ("user:$7$..." / "user:$6$..." lines, '#' comments) and the
// `wisp passwd` subcommand that edits them. Loading is all-or-nothing: any bad line fails the
// whole file with "path:line: reason", so a reload can keep the previous state.
#pragma once

#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/result.h"
#include "tls/password_hash.h"

namespace tls {

class PasswordFile {
 public:
  static protocol::Result<PasswordFile, protocol::Error> load(const std::string& path);
  // `name` is used in error messages in place of a path.
  static protocol::Result<PasswordFile, protocol::Error> parse(std::string_view text,
                                                               std::string_view name);

  bool contains(std::string_view user) const;
  // False for an unknown user too; an unknown user costs one hash computation as well, so
  // timing does not reveal which users exist. A successful check is remembered (per user, as
  // an HMAC-SHA256 of the password under a random per-load key), so a reconnecting client
  // does not pay the PBKDF2 cost again; wrong passwords always take the full path.
  // Thread-safe.
  bool verify(std::string_view user, std::string_view password) const;
  std::size_t size() const noexcept { return users_.size(); }
  std::size_t cached() const;

 private:
  struct Cache;
  std::map<std::string, PasswordHash, std::less<>> users_;
  std::shared_ptr<Cache> cache_;
};

// `wisp passwd` (arguments after "passwd"):
//   [-c] [-I iterations] FILE USER        prompt for the password (twice)
//   -b [-c] [-I iterations] FILE USER PASSWORD
//   -D FILE USER                          delete USER
// -c creates (or truncates) FILE. Writes "$7$" hashes; the file is replaced atomically and
// keeps its mode (new files: 0600). Returns the process exit code.
int passwd_main(const std::vector<std::string>& args);
// Same, with explicit streams (tests); `in` supplies the prompted password lines.
int passwd_main(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
                std::ostream& err);

// Replaces `path` with `content` atomically (temp file in the same directory + rename), with
// the existing file's mode, or `new_mode` if it does not exist.
protocol::Status write_file_atomic(const std::string& path, std::string_view content,
                                   unsigned new_mode = 0600);

}  // namespace tls
