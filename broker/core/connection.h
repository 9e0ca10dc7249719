// Connection: one client socket's MQTT state machine (decoder + engine glue). Created by the
// transport when a socket opens, destroyed after on_closed(). The MQTT Session it attaches to
// lives in the Broker's SessionRegistry and survives reconnects. Loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "broker/core/broker_config.h"
#include "broker/core/peer.h"
#include "protocol/types.h"

namespace broker::core {

class Broker;

struct ConnectionInfo {
  TransportKind transport = TransportKind::tcp;
  std::string remote_address;                // "ip:port"
  const ListenerPolicy* listener = nullptr;  // outlives the connection
  std::optional<std::string> ticket;         // WS upgrade ?ticket= / cookie
  std::optional<std::string> cert_identity;  // TLS client certificate identity
};

class Connection {
 public:
  Connection(Broker& broker, Peer& peer, ConnectionInfo info);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Bytes read from the socket, in any chunking. May call peer.want_write()/close()/
  // pause_reading() and may queue output on *other* connections (fan-out).
  void on_bytes(protocol::ByteSpan bytes);

  // Write pump: copies whole queued packets into `out` (a packet larger than `out` is sliced
  // across calls). Returns bytes written; 0 when nothing is queued.
  std::size_t fill_output(std::span<std::uint8_t> out);
  bool has_output() const noexcept;
  std::size_t queued_output_bytes() const noexcept;

  // The socket is gone (peer closed, error, or after Peer::close()). Publishes the will if
  // the loss was abnormal, detaches the session. The transport destroys the object after.
  void on_closed();

  const ConnectionInfo& info() const noexcept;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace broker::core
