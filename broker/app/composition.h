// Composition root: turns a Config into the engine, the transport listeners and the signal
// handling, and runs the broker until SIGINT/SIGTERM.
#pragma once

#include "broker/app/config.h"
#include "broker/transport/server.h"

namespace broker::app {

// Listener specs for the transport; `cfg` must outlive the returned specs (policy pointers).
std::vector<transport::ListenerSpec> listener_specs(Config& cfg);

// Runs the broker; returns the process exit code (0 after a graceful shutdown).
int run_broker(Config cfg, transport::EventLib event_lib);

}  // namespace broker::app
