// Engine internals shared by broker.cpp, connection.cpp and session.cpp: Broker::Impl (session
// registry, routing, retained, wills, $SYS) and Connection::Impl (decoder, packet handling,
// output queue and write pump). Not a public header: the transport uses broker.h/connection.h.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "broker/core/auth.h"
#include "broker/core/broker.h"
#include "broker/core/connection.h"
#include "broker/core/log.h"
#include "broker/core/persistence.h"
#include "broker/core/retained_index.h"
#include "broker/core/session.h"
#include "broker/core/subscription_tree.h"
#include "protocol/decoder.h"
#include "protocol/encoder.h"
#include "protocol/packets.h"

namespace broker::core {

// One routed delivery to a session (overlapping subscriptions merged).
struct Delivery {
  Session* session = nullptr;
  protocol::QoS qos = protocol::QoS::at_most_once;
  bool retain_as_published = false;
  std::vector<std::uint32_t> sub_ids;
  std::string_view share;  // group name (view valid during routing only)
  std::string_view filter;
};

class Broker::Impl {
 public:
  Impl(BrokerConfig config, const Clock& clock);
  ~Impl();

  // ---- routing ----
  // Routes `msg` to every matching subscription. Returns whether something had to be stored
  // durably (persistent queue or retained), so a QoS 1/2 ack waits for when_durable().
  bool route(const MessageRef& msg);
  // Publish entry for clients, wills, $SYS and bridges: retained handling + route.
  bool publish_message(const MessageRef& msg);
  // Queues or sends `ob` to session `s` (QoS already downgraded). Returns true if persisted.
  bool deliver(Session& s, Outbound ob);
  void drain(Session& s);  // moves queued messages into flight while limits allow
  void deliver_retained(Session& s, std::string_view filter, protocol::QoS granted);

  // ---- sessions ----
  Session* find_session(std::string_view client_id);
  Session& create_session(std::string client_id);
  void end_session(Session& s);  // fires a pending will, removes subscriptions, erases
  void session_offline(Session& s, bool publish_will_now);
  void publish_will(Session& s);
  void persist_session(Session& s);
  void redeliver_shared(Session& s);
  ClientIdentity identity(const Session& s) const;
  bool authorized(const Session& s, std::string_view topic, Access access);

  // ---- misc ----
  void tick();
  void publish_sys();
  void log(LogLevel level, std::string_view line);
  void load_persistence();
  std::string next_auto_id();
  TimePoint now() const noexcept { return clock_.now(); }

  BrokerConfig config_;
  const Clock& clock_;
  Authenticator* authenticator_ = nullptr;
  Authorizer* authorizer_ = nullptr;
  Persistence* persistence_ = nullptr;
  Logger* logger_ = nullptr;

  SubscriptionTree tree_;
  RetainedIndex retained_;
  std::unordered_map<std::string, std::unique_ptr<Session>, index_detail::StringHash,
                     std::equal_to<>>
      sessions_;
  std::unordered_set<Connection::Impl*> connections_;
  BrokerStats stats_;
  TimePoint started_;
  std::optional<TimePoint> next_sys_;
  std::uint64_t auto_id_counter_ = 0;
  bool shutting_down_ = false;

  // Routing scratch, reused per message (no allocation once warm).
  std::vector<Delivery> deliveries_;
  std::uint64_t route_epoch_ = 0;
  std::size_t last_matched_ = 0;  // deliveries of the last route() (v5 PUBACK 0x10)
};

// Per-connection output: an ordered queue of control packets (bytes in ctrl_) and publishes
// (a reference + the per-subscriber head fields, head encoded at write time).
struct OutItem {
  MessageRef msg;  // null: a control packet of ctrl_len bytes at the front of ctrl_
  std::uint32_t ctrl_len = 0;
  std::size_t size = 0;  // estimated encoded size, for queued_bytes accounting
  protocol::PacketId id = 0;
  protocol::QoS qos = protocol::QoS::at_most_once;
  bool retain = false;
  bool dup = false;
  std::vector<std::uint32_t> sub_ids;
};

// The output queue. std::deque allocates a 512-byte block and its map on construction; an idle
// connection should not pay that, so the deque exists only while items are queued.
class OutQueue {
 public:
  bool empty() const noexcept { return !q_ || q_->empty(); }
  OutItem& front() noexcept { return q_->front(); }
  void push_back(OutItem&& item) {
    if (!q_) q_ = std::make_unique<std::deque<OutItem>>();
    q_->push_back(std::move(item));
  }
  void pop_front() noexcept { q_->pop_front(); }
  // Frees the block: called when the queue has drained.
  void release() noexcept { q_.reset(); }

 private:
  std::unique_ptr<std::deque<OutItem>> q_;
};

// What a CONNECT asked for, owned: kept while an enhanced authentication exchange runs.
struct PendingConnect {
  std::string client_id;
  bool assigned = false;
  bool clean_start = true;
  bool bridge = false;
  std::uint16_t keep_alive_s = 0;
  std::uint32_t session_expiry_s = 0;  // v5 property (0 if absent)
  MessageRef will;
  std::uint32_t will_delay_s = 0;
  std::optional<std::uint32_t> will_expiry_s;
};

class Connection::Impl {
 public:
  enum class State { awaiting_connect, connected, closing, closed };

  Impl(Broker::Impl& broker, Peer& peer, ConnectionInfo info);
  ~Impl();

  // ---- transport entry points ----
  void on_bytes(protocol::ByteSpan bytes);
  std::size_t fill_output(std::span<std::uint8_t> out);
  void on_closed();

  // ---- packets ----
  void handle(protocol::Packet& p);
  void on_connect(protocol::Connect& c);
  void on_publish(protocol::Publish& p);
  void on_puback(const protocol::PubAck& p);
  void on_pubrec(const protocol::PubRec& p);
  void on_pubrel(const protocol::PubRel& p);
  void on_pubcomp(const protocol::PubComp& p);
  void on_subscribe(const protocol::Subscribe& p);
  void on_unsubscribe(const protocol::Unsubscribe& p);
  void on_disconnect(const protocol::Disconnect& p);
  void on_auth(const protocol::Auth& p);
  void on_decode_error(const protocol::DecodeError& e);
  void on_auth_step(AuthStep step);
  // Sets up the session and sends CONNACK once authentication succeeded.
  void complete_connect(const AuthDecision& d, std::span<const std::uint8_t> auth_data);

  // The single place deciding CONNACK (during CONNECT) vs v5 DISCONNECT vs plain close.
  void fail(protocol::ReasonCode reason, std::string_view detail);
  // Server-initiated close of a live connection (takeover, shutdown, keep alive...): v5 gets
  // DISCONNECT `reason`. `abnormal` decides the will.
  void server_disconnect(protocol::ReasonCode reason, std::string_view detail, bool abnormal);
  void close(protocol::ReasonCode why);
  // Detaches the session (will per `abnormal`), then forgets it.
  void detach(bool abnormal);

  // ---- output ----
  template <class P>
  void send(const P& packet);
  void send_ack_later(protocol::PacketType type, protocol::PacketId id, protocol::ReasonCode rc);
  // Queues a PUBLISH of `ob` (copied, or moved for QoS 0); `size` from publish_size().
  void push_publish(const Outbound& ob, std::size_t size);
  void push_publish(Outbound&& ob, std::size_t size);
  void push_item(OutItem&& item);
  bool can_send_qos0() const noexcept {
    return queued_bytes_ < broker_.config_.output_high_water_bytes;
  }
  std::size_t publish_size(const Message& m, protocol::QoS qos,
                           std::span<const std::uint32_t> sub_ids) const noexcept;
  bool fits_client(std::size_t packet_size) const noexcept {
    return client_max_packet_ == 0 || packet_size <= client_max_packet_;
  }
  void after_enqueue(bool was_empty, std::size_t bytes);
  void start_publish_item(OutItem& item);
  void resume_session();
  void log_line(std::string_view what, std::string_view reason);
  std::string_view strip_mount(std::string_view topic) const noexcept;

  Broker::Impl& broker_;
  Peer& peer_;
  ConnectionInfo info_;
  protocol::Decoder decoder_;
  State state_ = State::awaiting_connect;
  protocol::ProtocolVersion version_ = protocol::ProtocolVersion::v311;
  Session* session_ = nullptr;
  std::string client_id_;  // for logs, kept after detach
  std::optional<std::string> username_;
  TimePoint created_;
  TimePoint last_rx_;
  std::uint16_t keep_alive_s_ = 0;
  std::uint16_t client_receive_max_ = 65535;
  std::uint32_t client_max_packet_ = 0;  // 0 = no limit
  std::uint16_t client_alias_max_ = 0;
  std::unordered_map<std::string, std::uint16_t, index_detail::StringHash, std::equal_to<>>
      alias_out_;
  std::vector<std::string> alias_in_;  // index = alias - 1
  bool problem_info_ = true;           // v5 Request Problem Information
  bool connect_had_expiry_zero_ = true;
  std::optional<std::string> auth_method_;
  std::unique_ptr<PendingConnect> pending_;  // CONNECT waiting for authentication
  std::unique_ptr<AuthExchange> exchange_;   // enhanced authentication in progress
  std::optional<TimePoint> credentials_expire_;
  std::string mount_;
  std::size_t deferred_acks_ = 0;  // QoS 1 acks waiting for when_durable
  bool in_connect_ = false;        // processing CONNECT: errors answer with CONNACK
  bool will_on_close_ = true;
  bool connected_once_ = false;  // CONNACK success sent: log the disconnect        // false after a
                                 // normal DISCONNECT or on shutdown
  std::vector<std::uint8_t> sniff_;  // first bytes before CONNECT: protocol level sniffing
  bool paused_ = false;
  std::shared_ptr<Impl*> alive_;  // weak handles for deferred callbacks

  // Output queue.
  OutQueue out_;
  std::vector<std::uint8_t> ctrl_;
  std::size_t ctrl_read_ = 0;
  std::size_t queued_bytes_ = 0;
  // Item being written (may span several fill_output calls).
  bool cur_started_ = false;
  std::size_t cur_off_ = 0;
  std::vector<std::uint8_t> head_;
  protocol::ByteSpan cur_props_;
  protocol::ByteSpan cur_payload_;
  std::string_view close_reason_;
};

template <class P>
void Connection::Impl::send(const P& packet) {
  if (state_ == State::closed) return;
  const bool was_empty = out_.empty();
  const std::size_t n = protocol::encoded_size(packet, version_);
  protocol::ByteWriter w(ctrl_);
  protocol::encode(packet, version_, w);
  OutItem item;
  item.ctrl_len = static_cast<std::uint32_t>(n);
  item.size = n;
  out_.push_back(std::move(item));
  after_enqueue(was_empty, n);
}

protocol::QoS min_qos(protocol::QoS a, protocol::QoS b) noexcept;

// Builds the one Message of a publish: copies topic and payload once and encodes the
// forwarded v5 properties (payload format, content type, response topic, correlation data,
// user properties in order) in front of the payload. `props` null for 3.1.1 publishers.
MessageRef make_message(std::string topic, protocol::QoS qos, bool retain,
                        const protocol::Properties* props, protocol::ByteSpan payload,
                        std::string_view origin, std::optional<TimePoint> expiry);

}  // namespace broker::core
