// Broker: the engine's root. Holds sessions, subscriptions, retained messages, wills and
// metrics, never I/O. Loop thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "broker/core/auth.h"
#include "broker/core/broker_config.h"
#include "broker/core/clock.h"

namespace broker::core {

class Persistence;
class Logger;

struct BrokerStats {
  std::uint64_t clients_connected = 0;
  std::uint64_t clients_total = 0;  // sessions known (connected + persistent offline)
  std::uint64_t messages_received = 0;
  std::uint64_t messages_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t publish_dropped = 0;
  std::uint64_t publish_denied = 0;    // writes refused by the Authorizer
  std::uint64_t subscribe_denied = 0;  // subscriptions refused by the Authorizer
  std::uint64_t read_denied = 0;       // deliveries (live or retained) refused by the Authorizer
  std::uint64_t retained_count = 0;
  std::uint64_t subscriptions_count = 0;
};

// Every Connection must be destroyed (after on_closed()) before its Broker.
class Broker {
 public:
  Broker(BrokerConfig config, const Clock& clock);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Optional hooks; not owned, must outlive the Broker. nullptr = none.
  void set_authenticator(Authenticator* a) noexcept;
  void set_authorizer(Authorizer* a) noexcept;
  // Installing a Persistence loads its state (retained messages, sessions) at once.
  void set_persistence(Persistence* p) noexcept;
  void set_logger(Logger* l) noexcept;  // one line per connect/disconnect, errors

  // Periodic sweep, called by the transport every ~100-1000 ms: keep alive (1.5x), CONNECT
  // deadline, will delay, session and message expiry, credential expiry, $SYS publishing.
  void tick();

  // Graceful shutdown: v5 clients get DISCONNECT 0x8B, every connection is asked to close.
  void shutdown();

  // Publish from inside the broker (bridges, admin): as if a client had published it.
  void publish(MessageRef message);

  const BrokerConfig& config() const noexcept;
  const BrokerStats& stats() const noexcept;
  std::size_t connection_count() const noexcept;

  class Impl;
  Impl& impl() noexcept { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace broker::core
