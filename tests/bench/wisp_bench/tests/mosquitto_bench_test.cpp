// Integration: wisp-bench against a real Mosquitto (TCP and WebSocket listeners on ephemeral
// loopback ports). Checks the tool end to end: it connects, subscribes, publishes, counts.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool can_connect(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// Waits (bounded) until `pred` holds; polling a condition we cannot be notified of.
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout) {
  const auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

class Mosquitto {
 public:
  Mosquitto() {
    tcp_port = free_port();
    ws_port = free_port();
    char dir[] = "/tmp/wisp-bench-mosq-XXXXXX";
    dir_ = ::mkdtemp(dir);
    const std::string conf = dir_ + "/mosquitto.conf";
    std::ofstream f(conf);
    f << "per_listener_settings false\nallow_anonymous true\npersistence false\n"
      << "log_dest none\nset_tcp_nodelay true\n"
      << "listener " << tcp_port << " 127.0.0.1\n"
      << "listener " << ws_port << " 127.0.0.1\nprotocol websockets\n";
    f.close();
    std::vector<std::string> args = {MOSQUITTO_BIN, "-c", conf};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (::posix_spawn(&pid_, MOSQUITTO_BIN, nullptr, nullptr, argv.data(), environ) != 0) pid_ = 0;
    ready = pid_ > 0 && wait_until([this] { return can_connect(tcp_port) && can_connect(ws_port); },
                                   std::chrono::seconds(10));
  }
  ~Mosquitto() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int st = 0;
      if (!wait_until([&] { return ::waitpid(pid_, &st, WNOHANG) == pid_; },
                      std::chrono::seconds(5))) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &st, 0);
      }
    }
    std::remove((dir_ + "/mosquitto.conf").c_str());
    ::rmdir(dir_.c_str());
  }
  pid_t pid() const { return pid_; }
  std::uint16_t tcp_port = 0;
  std::uint16_t ws_port = 0;
  bool ready = false;

 private:
  std::string dir_;
  pid_t pid_ = 0;
};

struct RunResult {
  int exit_code = -1;
  std::map<std::string, std::string> kv;
  std::string raw;
};

// Runs wisp-bench with `args`, stdout captured, bounded by `timeout`.
RunResult run_bench(std::vector<std::string> args, std::chrono::seconds timeout) {
  RunResult r;
  int pipefd[2];
  REQUIRE(::pipe2(pipefd, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
  args.insert(args.begin(), WISP_BENCH_BIN);
  args.push_back("--no-progress");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  REQUIRE(::posix_spawn(&pid, WISP_BENCH_BIN, &fa, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  ::close(pipefd[1]);
  const auto until = Clock::now() + timeout;
  char buf[4096];
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{pipefd[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    const ssize_t n = ::read(pipefd[0], buf, sizeof buf);
    if (n <= 0) break;
    r.raw.append(buf, static_cast<std::size_t>(n));
  }
  ::close(pipefd[0]);
  int st = 0;
  if (!wait_until([&] { return ::waitpid(pid, &st, WNOHANG) == pid; }, std::chrono::seconds(5))) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &st, 0);
  }
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  // Last line: key=value pairs (values may be double-quoted).
  std::string line = r.raw;
  while (!line.empty() && line.back() == '\n') line.pop_back();
  line = line.substr(line.rfind('\n') == std::string::npos ? 0 : line.rfind('\n') + 1);
  std::size_t i = 0;
  while (i < line.size()) {
    const std::size_t eq = line.find('=', i);
    if (eq == std::string::npos) break;
    const std::string key = line.substr(i, eq - i);
    std::string value;
    std::size_t j = eq + 1;
    if (j < line.size() && line[j] == '"') {
      ++j;
      while (j < line.size() && line[j] != '"') {
        if (line[j] == '\\' && j + 1 < line.size()) ++j;
        value += line[j++];
      }
      ++j;
    } else {
      while (j < line.size() && line[j] != ' ') value += line[j++];
    }
    r.kv[key] = value;
    i = j + 1;
  }
  return r;
}

std::string str(const RunResult& r, const std::string& key) {
  auto it = r.kv.find(key);
  return it == r.kv.end() ? std::string() : it->second;
}

long num(const RunResult& r, const std::string& key) {
  auto it = r.kv.find(key);
  return it == r.kv.end() ? -1 : std::atol(it->second.c_str());
}

}  // namespace

TEST_CASE("wisp-bench against Mosquitto over TCP and WebSocket") {
  Mosquitto m;
  REQUIRE(m.ready);
  for (const char* transport : {"tcp", "ws"}) {
    const std::string port =
        std::to_string(std::string(transport) == "tcp" ? m.tcp_port : m.ws_port);
    for (const char* mqtt : {"3", "5"}) {
      SUBCASE((std::string(transport) + " MQTT " + mqtt).c_str()) {
        INFO("transport " << transport << " mqtt " << mqtt);
        {
          const RunResult r = run_bench(
              {"--scenario", "fanin", "--pubs", "3", "--transport", transport, "--port", port,
               "--mqtt", mqtt, "--duration", "1", "--broker-pid", std::to_string(m.pid())},
              std::chrono::seconds(30));
          INFO(r.raw);
          CHECK(r.exit_code == 0);
          CHECK(str(r, "status") == "ok");
          CHECK(num(r, "received") > 0);
          CHECK(num(r, "sent") >= num(r, "received"));
          CHECK(num(r, "broker_rss_kb") > 0);
          CHECK(num(r, "foreign") == 0);
        }
        {
          const RunResult r =
              run_bench({"--scenario", "pairwise", "--pairs", "5", "--qos", "1", "--transport",
                         transport, "--port", port, "--mqtt", mqtt, "--duration", "1"},
                        std::chrono::seconds(30));
          INFO(r.raw);
          CHECK(r.exit_code == 0);
          CHECK(str(r, "status") == "ok");
          CHECK(num(r, "received") > 0);
          CHECK(num(r, "lost") == 0);
          CHECK(num(r, "duplicated") == 0);
          CHECK(num(r, "acked") == num(r, "sent"));
          CHECK(num(r, "unique") == num(r, "sent"));
        }
      }
    }
  }
}

TEST_CASE("wisp-bench QoS 2 latency run and connection storm against Mosquitto") {
  Mosquitto m;
  REQUIRE(m.ready);
  const RunResult lat = run_bench({"--scenario", "latency", "--qos", "2", "--rate", "500", "--port",
                                   std::to_string(m.tcp_port), "--duration", "1"},
                                  std::chrono::seconds(30));
  INFO(lat.raw);
  CHECK(str(lat, "status") == "ok");
  CHECK(num(lat, "received") > 100);
  CHECK(num(lat, "lost") == 0);
  CHECK(num(lat, "p50_us") > 0);
  const RunResult storm = run_bench(
      {"--scenario", "connstorm", "--clients", "200", "--transport", "ws", "--port",
       std::to_string(m.ws_port), "--duration", "1", "--broker-pid", std::to_string(m.pid())},
      std::chrono::seconds(30));
  INFO(storm.raw);
  CHECK(str(storm, "status") == "ok");
  CHECK(num(storm, "connected") == 200);
  CHECK(num(storm, "connect_failures") == 0);
  CHECK(num(storm, "connect_rate") > 0);
  CHECK(num(storm, "rss_per_conn_b") > 0);
}

TEST_CASE("wisp-bench fails cleanly when nothing listens") {
  const RunResult r =
      run_bench({"--port", std::to_string(free_port()), "--duration", "1", "--setup-timeout", "3"},
                std::chrono::seconds(30));
  INFO(r.raw);
  CHECK(r.exit_code == 1);
  CHECK(str(r, "status") == "fail");
  CHECK(str(r, "error").find("connection") != std::string::npos);
}

TEST_CASE("wisp-bench reports a broker that dies mid-run, and ends in bounded time") {
  auto m = std::make_unique<Mosquitto>();
  REQUIRE(m->ready);
  int out_pipe[2];
  int err_pipe[2];
  REQUIRE(::pipe2(out_pipe, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(err_pipe, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  std::vector<std::string> args = {WISP_BENCH_BIN,
                                   "--scenario",
                                   "pairwise",
                                   "--pairs",
                                   "3",
                                   "--port",
                                   std::to_string(m->tcp_port),
                                   "--duration",
                                   "20"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  REQUIRE(::posix_spawn(&pid, WISP_BENCH_BIN, &fa, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  // Wait for the first progress line of the run phase, then kill the broker.
  std::string err;
  const auto until = Clock::now() + std::chrono::seconds(20);
  char buf[4096];
  while (err.find("[run ") == std::string::npos && Clock::now() < until) {
    pollfd p{err_pipe[0], POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    const ssize_t n = ::read(err_pipe[0], buf, sizeof buf);
    if (n <= 0) break;
    err.append(buf, static_cast<std::size_t>(n));
  }
  REQUIRE(err.find("[run ") != std::string::npos);
  const auto killed_at = Clock::now();
  m.reset();  // SIGTERM: Mosquitto closes every connection
  std::string out;
  for (;;) {
    pollfd p{out_pipe[0], POLLIN, 0};
    if (::poll(&p, 1, 30000) <= 0) break;
    const ssize_t n = ::read(out_pipe[0], buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  INFO(out);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 1);
  CHECK(out.find("status=fail") != std::string::npos);
  CHECK(out.find("broke during the run") != std::string::npos);
  // It stops the run as soon as connections break instead of running its 20 s.
  CHECK(Clock::now() - killed_at < std::chrono::seconds(15));
}
