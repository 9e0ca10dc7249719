// Child processes for integration tests (see process.h).
#include "process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace wisp_test {

namespace {

using Clock = std::chrono::steady_clock;

int ms_left(Clock::time_point deadline) {
  const auto d = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return d.count() < 0 ? 0 : static_cast<int>(d.count());
}

std::vector<std::string> make_env(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string s(*e);
    const auto name = s.substr(0, s.find('='));
    if (!extra.count(name)) env.push_back(s);
  }
  for (const auto& [k, v] : extra) env.push_back(k + "=" + v);
  return env;
}

// Spawns with stdin/stdout/stderr pipes; returns pid or -1.
pid_t spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
            int& in_w, int& out_r, int& err_r, const std::string& cwd = {}) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t dfl;
  sigemptyset(&dfl);
  sigaddset(&dfl, SIGPIPE);
  sigaddset(&dfl, SIGINT);
  sigaddset(&dfl, SIGTERM);
  posix_spawnattr_setsigdefault(&attr, &dfl);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  auto envs = make_env(env);
  std::vector<char*> envp;
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, args[0], &fa, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    close(in[1]);
    close(out[0]);
    close(err[0]);
    return -1;
  }
  in_w = in[1];
  out_r = out[0];
  err_r = err[0];
  return pid;
}

int decode_status(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : -1; }

}  // namespace

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                          const std::map<std::string, std::string>& env,
                          const std::string& stdin_data) {
  CommandResult r;
  int in_w = -1, out_r = -1, err_r = -1;
  const pid_t pid = spawn(argv, env, in_w, out_r, err_r);
  if (pid < 0) {
    r.err = "cannot start " + argv[0];
    return r;
  }
  if (!stdin_data.empty()) {
    [[maybe_unused]] auto n = write(in_w, stdin_data.data(), stdin_data.size());
  }
  close(in_w);
  const auto deadline = Clock::now() + timeout;
  bool out_open = true, err_open = true;
  while (out_open || err_open) {
    pollfd p[2] = {{out_open ? out_r : -1, POLLIN, 0}, {err_open ? err_r : -1, POLLIN, 0}};
    const int n = poll(p, 2, ms_left(deadline));
    if (n == 0) {
      r.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    if (n < 0 && errno == EINTR) continue;
    char buf[65536];
    for (int i = 0; i < 2; ++i) {
      if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t k = read(p[i].fd, buf, sizeof buf);
      if (k <= 0) {
        (i == 0 ? out_open : err_open) = false;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(k));
      }
    }
  }
  close(out_r);
  close(err_r);
  int st = 0;
  waitpid(pid, &st, 0);
  r.exit_code = r.timed_out ? -1 : decode_status(st);
  return r;
}

Process::Process(const std::vector<std::string>& argv,
                 const std::map<std::string, std::string>& env, const std::string& cwd) {
  int in_w = -1, out_r = -1, err_r = -1;
  pid_ = spawn(argv, env, in_w, out_r, err_r, cwd);
  if (pid_ < 0) return;
  close(in_w);
  pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  out_thread_ = std::thread([this, out_r] { reader(out_r, false); });
  err_thread_ = std::thread([this, err_r] { reader(err_r, true); });
}

Process::~Process() {
  if (pid_ > 0 && !status_) {
    kill(pid_, SIGKILL);
    wait_exit(std::chrono::seconds(10));
  }
  if (out_thread_.joinable()) out_thread_.join();
  if (err_thread_.joinable()) err_thread_.join();
  if (pidfd_ >= 0) close(pidfd_);
}

void Process::reader(int fd, bool is_err) {
  std::string partial;
  char buf[8192];
  for (;;) {
    const ssize_t k = read(fd, buf, sizeof buf);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    partial.append(buf, static_cast<std::size_t>(k));
    std::size_t nl;
    while ((nl = partial.find('\n')) != std::string::npos) {
      {
        std::lock_guard lock(mu_);
        (is_err ? err_ : out_).push_back(partial.substr(0, nl));
      }
      cv_.notify_all();
      partial.erase(0, nl + 1);
    }
  }
  close(fd);
  {
    std::lock_guard lock(mu_);
    if (!partial.empty()) (is_err ? err_ : out_).push_back(partial);
    (is_err ? err_eof_ : out_eof_) = true;
  }
  cv_.notify_all();
}

std::optional<std::string> Process::wait_line(const std::function<bool(const std::string&)>& pred,
                                              std::chrono::milliseconds timeout, bool stderr) {
  std::unique_lock lock(mu_);
  std::size_t checked = 0;
  std::optional<std::string> found;
  cv_.wait_for(lock, timeout, [&] {
    auto& v = stderr ? err_ : out_;
    for (; checked < v.size(); ++checked) {
      if (pred(v[checked])) {
        found = v[checked];
        return true;
      }
    }
    return stderr ? err_eof_ : out_eof_;
  });
  return found;
}

std::vector<std::string> Process::lines(bool stderr) {
  std::lock_guard lock(mu_);
  return stderr ? err_ : out_;
}

std::size_t Process::count_lines(const std::function<bool(const std::string&)>& pred, bool stderr) {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& l : stderr ? err_ : out_) n += pred(l) ? 1 : 0;
  return n;
}

void Process::signal(int sig) {
  if (pid_ > 0 && !status_) kill(pid_, sig);
}

std::optional<int> Process::wait_exit(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  if (pid_ <= 0) return std::nullopt;
  pollfd p{pidfd_, POLLIN, 0};
  if (pidfd_ >= 0 && poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
  int st = 0;
  if (waitpid(pid_, &st, 0) != pid_) return std::nullopt;
  status_ = decode_status(st);
  return status_;
}

bool Process::exited() { return wait_exit(std::chrono::milliseconds(0)).has_value(); }

}  // namespace wisp_test
