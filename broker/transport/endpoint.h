// Endpoint: what a transport Link drives for one socket. In the broker it is a
// core::Connection (see broker/app/core_endpoint.h); tests plug in echo/recording endpoints so
// the lws layer can be exercised without the engine. Loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "broker/core/connection.h"
#include "broker/core/peer.h"
#include "protocol/types.h"

namespace broker::transport {

class Endpoint {
 public:
  virtual ~Endpoint() = default;
  // Bytes read from the socket, in any chunking; the endpoint keeps what it needs.
  virtual void on_bytes(protocol::ByteSpan bytes) = 0;
  // Copies queued output into `out`; returns bytes written, 0 when nothing is queued.
  virtual std::size_t fill_output(std::span<std::uint8_t> out) = 0;
  virtual bool has_output() const noexcept = 0;
  virtual std::size_t queued_output_bytes() const noexcept = 0;
  // The socket is gone; the endpoint is destroyed right after.
  virtual void on_closed() = 0;
};

// Creates the endpoint of a freshly opened socket. `peer` outlives the endpoint.
using EndpointFactory =
    std::function<std::unique_ptr<Endpoint>(core::Peer& peer, core::ConnectionInfo info)>;

}  // namespace broker::transport
