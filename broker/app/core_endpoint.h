// CoreEndpoint: plugs the engine's core::Connection into a transport Link (the transport
// itself only knows the Endpoint interface). Loop thread only.
#pragma once

#include <memory>

#include "broker/core/broker.h"
#include "broker/core/connection.h"
#include "broker/transport/endpoint.h"

namespace broker::app {

class CoreEndpoint final : public transport::Endpoint {
 public:
  CoreEndpoint(core::Broker& broker, core::Peer& peer, core::ConnectionInfo info)
      : connection_(broker, peer, std::move(info)) {}
  void on_bytes(protocol::ByteSpan bytes) override { connection_.on_bytes(bytes); }
  std::size_t fill_output(std::span<std::uint8_t> out) override {
    return connection_.fill_output(out);
  }
  bool has_output() const noexcept override { return connection_.has_output(); }
  std::size_t queued_output_bytes() const noexcept override {
    return connection_.queued_output_bytes();
  }
  void on_closed() override { connection_.on_closed(); }

 private:
  core::Connection connection_;
};

inline transport::EndpointFactory core_endpoint_factory(core::Broker& broker) {
  return [&broker](core::Peer& peer, core::ConnectionInfo info) {
    return std::unique_ptr<transport::Endpoint>(
        std::make_unique<CoreEndpoint>(broker, peer, std::move(info)));
  };
}

}  // namespace broker::app
