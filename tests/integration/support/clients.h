// Real third-party clients driven from tests: mosquitto_pub/mosquitto_sub, Paho Python and
// MQTT.js scripts (tests/integration/clients/).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "process.h"

namespace wisp_test {

// mosquitto_sub -v on `topics` plus a private sync topic; returns once a probe published to
// the sync topic came back, i.e. the subscription is in place (nullptr on failure).
std::unique_ptr<Process> start_sub(std::uint16_t port, const std::vector<std::string>& topics,
                                   int qos = 0, int version = 4,
                                   const std::vector<std::string>& extra = {});
CommandResult pub(std::uint16_t port, const std::string& topic, const std::string& message,
                  int qos = 0, int version = 4, const std::vector<std::string>& extra = {});
std::string mqtt_version_flag(int version);  // "mqttv311" / "mqttv5"

std::string clients_dir();  // tests/integration/clients
std::string python();       // /usr/bin/python3 (has python3-paho-mqtt)

}  // namespace wisp_test
