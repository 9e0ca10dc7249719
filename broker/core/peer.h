// Peer: the engine's only view of a socket. Implemented by the transport (lws Link) and by the
// tests' in-memory harness. All calls happen on the loop thread.
#pragma once

#include <string>

#include "protocol/reason_code.h"

namespace broker::core {

enum class TransportKind { tcp, tls, ws, wss };
const char* to_string(TransportKind k) noexcept;

class Peer {
 public:
  virtual ~Peer() = default;
  // Output is queued in the Connection: call Connection::fill_output() when writable.
  virtual void want_write() noexcept = 0;
  // Flush what is queued, then close the socket; the transport then calls
  // Connection::on_closed() later, never from inside close() (the engine may be routing a
  // message when it asks). `why` picks the WebSocket close code (e.g. 1002 for protocol
  // errors, 1009 for packet_too_large, 1001 for server_shutting_down, 1000 otherwise).
  virtual void close(protocol::ReasonCode why) noexcept = 0;
  // Stop / resume reading from the socket (back-pressure). Bytes already read are not lost.
  virtual void pause_reading(bool paused) noexcept = 0;
};

}  // namespace broker::core
