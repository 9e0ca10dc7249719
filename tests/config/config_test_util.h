// Helpers for the config tests: a temporary directory that holds config files, and loaders that
// report paths relative to it so messages can be compared exactly ("wisp.conf:3: ...").
#pragma once

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "broker/app/config.h"

namespace config_test {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "wisp-config-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }
  std::string str(const std::string& rel) const { return (path_ / rel).string(); }

  // Writes `text` to `rel` (parent directories created) and returns its full path.
  std::string write(const std::string& rel, std::string_view text) const {
    const fs::path p = path_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    out << text;
    REQUIRE(out.good());
    return p.string();
  }
  std::string mkdir(const std::string& rel) const {
    fs::create_directories(path_ / rel);
    return (path_ / rel).string();
  }

  // The text with every "<dir>/" removed.
  std::string relative(std::string text) const {
    const std::string prefix = path_.string() + "/";
    for (auto pos = text.find(prefix); pos != std::string::npos; pos = text.find(prefix, pos)) {
      text.erase(pos, prefix.size());
    }
    return text;
  }

 private:
  fs::path path_;
};

// Loads `path`; the test fails (with the parser's message) if it does not load.
inline broker::app::Config load_ok(const std::string& path) {
  auto r = broker::app::load_config(path);
  if (!r) FAIL("load_config failed: " << r.error().message);
  return std::move(r).value();
}

// Loads `path`, which must fail; returns the message with paths relative to `dir`.
inline std::string load_error(const TempDir& dir, const std::string& path) {
  auto r = broker::app::load_config(path);
  if (r) {
    FAIL("load_config succeeded but an error was expected");
    return {};
  }
  return dir.relative(r.error().message);
}

// Convenience: write wisp.conf with `text` and load it.
inline broker::app::Config parse_ok(const TempDir& dir, std::string_view text) {
  return load_ok(dir.write("wisp.conf", text));
}
inline std::string parse_error(const TempDir& dir, std::string_view text) {
  return load_error(dir, dir.write("wisp.conf", text));
}

// Warnings with paths relative to `dir`.
inline std::vector<std::string> warnings_of(const TempDir& dir, const broker::app::Config& c) {
  std::vector<std::string> out;
  for (const auto& w : c.warnings) out.push_back(dir.relative(w));
  return out;
}

}  // namespace config_test
