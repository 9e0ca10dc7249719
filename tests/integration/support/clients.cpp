// Real third-party clients (see clients.h).
#include "clients.h"

#include <unistd.h>

#include <atomic>

namespace wisp_test {

std::string mqtt_version_flag(int version) { return version == 5 ? "mqttv5" : "mqttv311"; }
std::string clients_dir() { return WISP_CLIENTS_DIR; }
std::string python() { return "/usr/bin/python3"; }

CommandResult pub(std::uint16_t port, const std::string& topic, const std::string& message, int qos,
                  int version, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {"mosquitto_pub",
                                   "-h",
                                   "127.0.0.1",
                                   "-p",
                                   std::to_string(port),
                                   "-V",
                                   mqtt_version_flag(version),
                                   "-q",
                                   std::to_string(qos),
                                   "-t",
                                   topic,
                                   "-m",
                                   message};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run_command(argv, std::chrono::seconds(15));
}

std::unique_ptr<Process> start_sub(std::uint16_t port, const std::vector<std::string>& topics,
                                   int qos, int version, const std::vector<std::string>& extra) {
  static std::atomic<int> seq{0};
  const std::string sync = "sync/" + std::to_string(::getpid()) + "/" + std::to_string(++seq);
  std::vector<std::string> argv = {"mosquitto_sub",
                                   "-h",
                                   "127.0.0.1",
                                   "-p",
                                   std::to_string(port),
                                   "-V",
                                   mqtt_version_flag(version),
                                   "-q",
                                   std::to_string(qos),
                                   "-v",
                                   "-t",
                                   sync};
  for (const auto& t : topics) {
    argv.push_back("-t");
    argv.push_back(t);
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto p = std::make_unique<Process>(argv);
  if (!p->started()) return nullptr;
  // Probe until the subscription answers: each wait is bounded, 50 probes at most.
  for (int i = 0; i < 50; ++i) {
    pub(port, sync, "probe", 0, version);
    if (p->wait_line_containing(sync + " probe", std::chrono::milliseconds(200))) return p;
    if (p->exited()) return nullptr;
  }
  return nullptr;
}

}  // namespace wisp_test
