// Child processes for integration tests: run a command to completion with a deadline, or keep
// one running in the background and wait for lines of its output. Nothing here sleeps: every
// wait is poll()/condition-variable based with a timeout.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace wisp_test {

struct CommandResult {
  int exit_code = -1;  // -1: killed at the deadline or by a signal
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Runs argv[0] (PATH lookup) with extra environment variables; kills it at the deadline.
CommandResult run_command(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30),
                          const std::map<std::string, std::string>& env = {},
                          const std::string& stdin_data = {});

// A background process whose stdout and stderr lines are collected by a reader thread.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
          const std::string& cwd = {});  // cwd empty: inherit
  ~Process();                            // SIGKILL + reap if still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // Waits until a line of stdout (or stderr) satisfies pred; returns it.
  std::optional<std::string> wait_line(const std::function<bool(const std::string&)>& pred,
                                       std::chrono::milliseconds timeout, bool stderr = false);
  std::optional<std::string> wait_line_containing(const std::string& s,
                                                  std::chrono::milliseconds timeout,
                                                  bool stderr = false) {
    return wait_line([&](const std::string& l) { return l.find(s) != std::string::npos; }, timeout,
                     stderr);
  }
  std::vector<std::string> lines(bool stderr = false);
  std::size_t count_lines(const std::function<bool(const std::string&)>& pred, bool stderr = false);
  void signal(int sig);
  // Waits for exit; returns the exit status (-1 killed by a signal), nullopt on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  bool exited();

 private:
  void reader(int fd, bool is_err);
  pid_t pid_ = -1;
  int pidfd_ = -1;
  std::optional<int> status_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> out_, err_;
  bool out_eof_ = false, err_eof_ = false;
  std::thread out_thread_, err_thread_;
};

}  // namespace wisp_test
