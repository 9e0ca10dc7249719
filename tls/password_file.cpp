// Password file parsing and the `wisp passwd` editor.
#include "tls/password_file.h"

#include <fcntl.h>
#include <mbedtls/md.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include "tls/random.h"
#include "tls/scram.h"

namespace tls {
namespace {

std::string_view trim_eol(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  return line;
}

bool is_blank(std::string_view s) { return s.find_first_not_of(" \t") == std::string_view::npos; }

protocol::Result<std::string, protocol::Error> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return protocol::fail(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return protocol::fail(path + ": read error");
  return ss.str();
}

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.emplace_back(trim_eol(text.substr(start, end - start)));
    start = end + 1;
  }
  return lines;
}

bool valid_username(std::string_view user) {
  if (user.empty()) return false;
  for (char c : user) {
    if (c == ':' || c == '\n' || c == '\r') return false;
  }
  return true;
}

// Reads one password line without echo when `in` is the terminal's stdin.
bool read_secret(std::istream& in, std::ostream& out, const char* prompt, std::string& line) {
  out << prompt << std::flush;
  const bool tty = (&in == &std::cin) && isatty(STDIN_FILENO);
  termios old{};
  if (tty && tcgetattr(STDIN_FILENO, &old) == 0) {
    termios noecho = old;
    noecho.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
  }
  const bool ok = static_cast<bool>(std::getline(in, line));
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    out << "\n";
  }
  line = std::string(trim_eol(line));
  return ok;
}

}  // namespace

struct PasswordFile::Cache {
  using Tag = std::array<std::uint8_t, 32>;
  std::mutex mutex;
  std::array<std::uint8_t, 32> key{};
  bool usable = false;
  std::unordered_map<std::string, Tag> verified;

  Cache() {
    if (Random* rng = thread_random()) usable = static_cast<bool>(rng->fill(key));
  }
  Tag tag(std::string_view password) const {
    Tag t{};
    mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key.data(), key.size(),
                    reinterpret_cast<const unsigned char*>(password.data()), password.size(),
                    t.data());
    return t;
  }
};

std::size_t PasswordFile::cached() const {
  std::lock_guard lock(cache_->mutex);
  return cache_->verified.size();
}

protocol::Result<PasswordFile, protocol::Error> PasswordFile::load(const std::string& path) {
  auto text = read_file(path);
  if (!text) return protocol::unexpected(text.error());
  return parse(*text, path);
}

protocol::Result<PasswordFile, protocol::Error> PasswordFile::parse(std::string_view text,
                                                                    std::string_view name) {
  PasswordFile pf;
  pf.cache_ = std::make_shared<Cache>();
  const auto lines = split_lines(text);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    const std::string where = std::string(name) + ":" + std::to_string(i + 1) + ": ";
    if (is_blank(line) || line.front() == '#') continue;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return protocol::fail(where + "missing ':'");
    const std::string user(line.substr(0, colon));
    if (user.empty()) return protocol::fail(where + "empty username");
    auto hash = parse_password_hash(line.substr(colon + 1));
    if (!hash) return protocol::fail(where + "user '" + user + "': " + hash.error().message);
    if (!pf.users_.emplace(user, std::move(hash).value()).second) {
      return protocol::fail(where + "duplicate user '" + user + "'");
    }
  }
  return pf;
}

bool PasswordFile::contains(std::string_view user) const {
  return users_.find(user) != users_.end();
}

bool PasswordFile::verify(std::string_view user, std::string_view password) const {
  const auto it = users_.find(user);
  if (it == users_.end()) {
    if (!users_.empty()) {
      // Burn the same work as a real check so response time does not reveal the user list.
      PasswordHash dummy = users_.begin()->second;
      (void)verify_password(dummy, password);
    }
    return false;
  }
  const std::string key(user);
  const Cache::Tag tag = cache_->tag(password);
  if (cache_->usable) {
    std::lock_guard lock(cache_->mutex);
    const auto hit = cache_->verified.find(key);
    if (hit != cache_->verified.end() && constant_time_equal(hit->second, tag)) return true;
  }
  if (!verify_password(it->second, password)) return false;
  if (cache_->usable) {
    std::lock_guard lock(cache_->mutex);
    cache_->verified[key] = tag;
  }
  return true;
}

protocol::Status write_file_atomic(const std::string& path, std::string_view content,
                                   unsigned new_mode) {
  struct stat st {};
  mode_t mode = static_cast<mode_t>(new_mode);
  if (::stat(path.c_str(), &st) == 0) mode = st.st_mode & 07777;
  std::string tmp = path + ".tmp-XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0)
    return protocol::fail(path + ": cannot create temporary file: " + std::strerror(errno));
  const auto cleanup_fail = [&](const std::string& why) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return protocol::fail(path + ": " + why + ": " + std::strerror(errno));
  };
  if (::fchmod(fd, mode) != 0) return cleanup_fail("chmod failed");
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return cleanup_fail("write failed");
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) return cleanup_fail("fsync failed");
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return protocol::fail(path + ": close failed: " + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return protocol::fail(path + ": rename failed: " + why);
  }
  return protocol::ok();
}

int passwd_main(const std::vector<std::string>& args) {
  return passwd_main(args, std::cin, std::cout, std::cerr);
}

int passwd_main(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
                std::ostream& err) {
  static constexpr const char* kUsage =
      "usage: wisp passwd [-c] [-I iterations] FILE USER\n"
      "       wisp passwd -b [-c] [-I iterations] FILE USER PASSWORD\n"
      "       wisp passwd -D FILE USER\n"
      "       wisp passwd --scram-sha-256 [-c] [-b] [-I iterations] FILE USER [PASSWORD]\n"
      "  -c  create FILE (overwrite if it exists)\n"
      "  -b  take the password from the command line\n"
      "  -D  delete USER\n"
      "  -I  PBKDF2 iterations (default 100000; 4096 for SCRAM)\n"
      "  --scram-sha-256  edit a SCRAM verifier file (scram_file) instead of a password file\n";
  bool create = false;
  bool batch = false;
  bool remove = false;
  bool scram = false;
  bool iterations_given = false;
  std::uint32_t iterations = kDefaultPbkdf2Iterations;
  std::vector<std::string> pos;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-c") {
      create = true;
    } else if (a == "-b") {
      batch = true;
    } else if (a == "-D") {
      remove = true;
    } else if (a == "--scram-sha-256") {
      scram = true;
    } else if (a == "-I") {
      iterations_given = true;
      if (i + 1 >= args.size()) {
        err << "passwd: -I needs a number\n" << kUsage;
        return 2;
      }
      const std::string& n = args[++i];
      const auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), iterations);
      if (ec != std::errc{} || p != n.data() + n.size() || iterations == 0 ||
          iterations > kMaxPbkdf2Iterations) {
        err << "passwd: bad iteration count '" << n << "' (1.." << kMaxPbkdf2Iterations << ")\n";
        return 2;
      }
    } else if (a == "-h" || a == "--help") {
      out << kUsage;
      return 0;
    } else if (a.size() > 1 && a[0] == '-') {
      err << "passwd: unknown option " << a << "\n" << kUsage;
      return 2;
    } else {
      pos.push_back(a);
    }
  }
  if (scram && !iterations_given) iterations = kDefaultScramIterations;
  const std::size_t want = remove ? 2 : (batch ? 3 : 2);
  if (pos.size() != want || (remove && (create || batch))) {
    err << kUsage;
    return 2;
  }
  const std::string& path = pos[0];
  const std::string& user = pos[1];
  if (!valid_username(user)) {
    err << "passwd: invalid username '" << user << "' (must be non-empty, no ':')\n";
    return 1;
  }

  std::vector<std::string> lines;
  if (!create) {
    auto text = read_file(path);
    if (!text) {
      err << "passwd: " << text.error().message << " (use -c to create it)\n";
      return 1;
    }
    // Validate the existing file so we never rewrite garbage.
    if (scram) {
      if (auto sf = parse_scram_file(*text, path); !sf) {
        err << "passwd: " << sf.error().message << "\n";
        return 1;
      }
    } else if (auto pf = PasswordFile::parse(*text, path); !pf) {
      err << "passwd: " << pf.error().message << "\n";
      return 1;
    }
    lines = split_lines(*text);
  }

  const auto line_user = [](const std::string& line) -> std::string_view {
    if (line.empty() || line.front() == '#') return {};
    const auto colon = line.find(':');
    if (colon == std::string::npos) return {};
    return std::string_view(line).substr(0, colon);
  };

  if (remove) {
    bool found = false;
    std::vector<std::string> kept;
    for (auto& l : lines) {
      if (line_user(l) == user) {
        found = true;
      } else {
        kept.push_back(std::move(l));
      }
    }
    if (!found) {
      err << "passwd: user '" << user << "' not found in " << path << "\n";
      return 1;
    }
    lines = std::move(kept);
  } else {
    std::string password;
    if (batch) {
      password = pos[2];
    } else {
      std::string again;
      if (!read_secret(in, out, "Password: ", password) ||
          !read_secret(in, out, "Reenter password: ", again)) {
        err << "passwd: no password given\n";
        return 1;
      }
      if (password != again) {
        err << "passwd: passwords do not match\n";
        return 1;
      }
    }
    if (password.empty()) {
      err << "passwd: empty password\n";
      return 1;
    }
    std::string entry;
    if (scram) {
      auto salt = random_bytes(16);
      if (!salt) {
        err << "passwd: " << salt.error().message << "\n";
        return 1;
      }
      auto cred = scram_credential(ScramHash::sha256, password, *salt, iterations);
      if (!cred) {
        err << "passwd: " << cred.error().message << "\n";
        return 1;
      }
      entry = user + ":" + format_scram_verifier(*cred);
    } else {
      auto hash = make_password_hash(password, iterations);
      if (!hash) {
        err << "passwd: " << hash.error().message << "\n";
        return 1;
      }
      entry = user + ":" + format_password_hash(*hash);
    }
    bool replaced = false;
    for (auto& l : lines) {
      if (line_user(l) == user) {
        l = entry;
        replaced = true;
      }
    }
    if (!replaced) lines.push_back(std::move(entry));
  }

  std::string content;
  for (const auto& l : lines) {
    content += l;
    content += '\n';
  }
  if (auto st = write_file_atomic(path, content); !st) {
    err << "passwd: " << st.error().message << "\n";
    return 1;
  }
  return 0;
}

}  // namespace tls
