// Connection: one socket's MQTT state machine. Decodes packets, applies them to the session
// through Broker::Impl, and owns the ordered output queue drained by the write pump.
#include "broker/core/connection.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "broker/core/engine.h"
#include "protocol/topic.h"

namespace broker::core {

using protocol::ProtocolVersion;
using protocol::QoS;
using protocol::ReasonCode;

const char* to_string(TransportKind k) noexcept {
  switch (k) {
    case TransportKind::tcp: return "tcp";
    case TransportKind::tls: return "tls";
    case TransportKind::ws: return "ws";
    case TransportKind::wss: return "wss";
  }
  return "?";
}

namespace {

const char* version_name(ProtocolVersion v) noexcept {
  switch (v) {
    case ProtocolVersion::v31: return "3.1";
    case ProtocolVersion::v311: return "3.1.1";
    case ProtocolVersion::v5: return "5.0";
  }
  return "?";
}

// Protocol level of a CONNECT seen in its first bytes, or 0 if it cannot be told.
int sniff_level(const std::vector<std::uint8_t>& b) {
  if (b.empty() || b[0] != 0x10) return 0;
  std::size_t i = 1;
  while (i < b.size() && i < 5 && (b[i] & 0x80) != 0) ++i;
  ++i;  // past the last remaining-length byte
  if (i + 2 > b.size()) return 0;
  const std::size_t name_len = (std::size_t{b[i]} << 8) | b[i + 1];
  const std::size_t level_at = i + 2 + name_len;
  if (name_len > 6 || level_at >= b.size()) return 0;
  return b[level_at] & 0x7F;
}

std::uint32_t expiry_remaining_s(TimePoint expiry, TimePoint now) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(expiry - now).count();
  if (left <= 0) return 0;
  return static_cast<std::uint32_t>((left + 999) / 1000);
}

}  // namespace

MessageRef make_message(std::string topic, QoS qos, bool retain, const protocol::Properties* props,
                        protocol::ByteSpan payload, std::string_view origin,
                        std::optional<TimePoint> expiry) {
  auto m = std::make_shared<Message>();
  m->topic = std::move(topic);
  m->qos = qos;
  m->retain = retain;
  m->expiry = expiry;
  m->origin = origin;
  if (props != nullptr &&
      (props->payload_format_indicator || props->content_type || props->response_topic ||
       props->correlation_data || !props->user_properties.empty())) {
    protocol::Properties fwd;
    fwd.payload_format_indicator = props->payload_format_indicator;
    fwd.content_type = props->content_type;
    fwd.response_topic = props->response_topic;
    fwd.correlation_data = props->correlation_data;
    fwd.user_properties = props->user_properties;
    m->bytes.reserve(protocol::properties_body_size(fwd) + payload.size());
    protocol::ByteWriter w(m->bytes);
    protocol::encode_properties_body(fwd, w);
  } else {
    m->bytes.reserve(payload.size());
  }
  m->payload_offset = m->bytes.size();
  m->bytes.insert(m->bytes.end(), payload.begin(), payload.end());
  return m;
}

// ---- Connection (public shell) ----------------------------------------------------------

Connection::Connection(Broker& broker, Peer& peer, ConnectionInfo info)
    : impl_(std::make_unique<Impl>(broker.impl(), peer, std::move(info))) {}
Connection::~Connection() = default;
void Connection::on_bytes(protocol::ByteSpan bytes) { impl_->on_bytes(bytes); }
std::size_t Connection::fill_output(std::span<std::uint8_t> out) { return impl_->fill_output(out); }
bool Connection::has_output() const noexcept { return !impl_->out_.empty(); }
std::size_t Connection::queued_output_bytes() const noexcept { return impl_->queued_bytes_; }
void Connection::on_closed() { impl_->on_closed(); }
const ConnectionInfo& Connection::info() const noexcept { return impl_->info_; }

// ---- Connection::Impl ---------------------------------------------------------------------

Connection::Impl::Impl(Broker::Impl& broker, Peer& peer, ConnectionInfo info)
    : broker_(broker), peer_(peer), info_(std::move(info)), alive_(std::make_shared<Impl*>(this)) {
  protocol::Limits limits;
  if (broker_.config_.max_packet_bytes != 0)
    limits.max_packet_bytes = broker_.config_.max_packet_bytes;
  decoder_.set_limits(limits);
  created_ = broker_.now();
  last_rx_ = created_;
  if (info_.listener != nullptr && info_.listener->mount_point)
    mount_ = *info_.listener->mount_point;
  broker_.connections_.insert(this);
}

Connection::Impl::~Impl() {
  if (state_ != State::closed) on_closed();
  broker_.connections_.erase(this);
}

void Connection::Impl::on_bytes(protocol::ByteSpan bytes) {
  if (state_ == State::closing || state_ == State::closed) return;
  broker_.stats_.bytes_received += bytes.size();
  last_rx_ = broker_.now();
  if (state_ == State::awaiting_connect && sniff_.size() < 16) {
    const std::size_t k = std::min(bytes.size(), 16 - sniff_.size());
    sniff_.insert(sniff_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(k));
  }
  protocol::ByteSpan in = bytes;
  while (state_ == State::awaiting_connect || state_ == State::connected) {
    protocol::DecodeStep step = decoder_.next(in);
    if (std::holds_alternative<protocol::NeedMore>(step)) break;
    if (auto* err = std::get_if<protocol::DecodeError>(&step)) {
      on_decode_error(*err);
      break;
    }
    handle(std::get<protocol::Packet>(step));
  }
}

void Connection::Impl::on_decode_error(const protocol::DecodeError& e) {
  if (state_ == State::awaiting_connect) {
    const int level = sniff_level(sniff_);
    if (level == 0) {  // not even a CONNECT: nothing to answer [MQTT-3.1.0-1]
      log_line("rejected", e.detail);
      close(e.reason);
      return;
    }
    // Answer in the client's own CONNACK format; unknown levels get the 3.1.1 form
    // (return code 1, unacceptable protocol version), as Mosquitto does.
    version_ = level == 5 ? ProtocolVersion::v5 : ProtocolVersion::v311;
    in_connect_ = true;
  }
  fail(e.reason, e.detail);
}

void Connection::Impl::handle(protocol::Packet& p) {
  if (state_ == State::awaiting_connect && !std::holds_alternative<protocol::Connect>(p) &&
      !(pending_ && std::holds_alternative<protocol::Auth>(p))) {
    log_line("rejected", "first packet is not CONNECT");
    close(ReasonCode::protocol_error);  // [MQTT-3.1.0-1]
    return;
  }
  std::visit(
      [this](auto& pkt) {
        using T = std::decay_t<decltype(pkt)>;
        if constexpr (std::is_same_v<T, protocol::Connect>) {
          on_connect(pkt);
        } else if constexpr (std::is_same_v<T, protocol::Publish>) {
          on_publish(pkt);
        } else if constexpr (std::is_same_v<T, protocol::PubAck>) {
          on_puback(pkt);
        } else if constexpr (std::is_same_v<T, protocol::PubRec>) {
          on_pubrec(pkt);
        } else if constexpr (std::is_same_v<T, protocol::PubRel>) {
          on_pubrel(pkt);
        } else if constexpr (std::is_same_v<T, protocol::PubComp>) {
          on_pubcomp(pkt);
        } else if constexpr (std::is_same_v<T, protocol::Subscribe>) {
          on_subscribe(pkt);
        } else if constexpr (std::is_same_v<T, protocol::Unsubscribe>) {
          on_unsubscribe(pkt);
        } else if constexpr (std::is_same_v<T, protocol::PingReq>) {
          send(protocol::PingResp{});
        } else if constexpr (std::is_same_v<T, protocol::Disconnect>) {
          on_disconnect(pkt);
        } else if constexpr (std::is_same_v<T, protocol::Auth>) {
          on_auth(pkt);
        } else {
          // CONNACK, SUBACK, UNSUBACK, PINGRESP: server-to-client only.
          fail(ReasonCode::protocol_error, "packet type not accepted by a server");
        }
      },
      p);
}

// ---- CONNECT ------------------------------------------------------------------------------

void Connection::Impl::on_connect(protocol::Connect& c) {
  if (state_ != State::awaiting_connect || pending_) {
    fail(ReasonCode::protocol_error, "second CONNECT");  // [MQTT-3.1.0-2]
    return;
  }
  const BrokerConfig& cfg = broker_.config_;
  version_ = c.version;
  decoder_.set_version(version_);
  in_connect_ = true;
  sniff_.clear();
  sniff_.shrink_to_fit();
  const bool v5 = version_ == ProtocolVersion::v5;

  // Everything CONNECT says is copied now: with enhanced authentication the session is only
  // set up after further AUTH packets, when the decoded CONNECT is long gone.
  auto pc = std::make_unique<PendingConnect>();
  pc->client_id = std::string(c.client_id);
  if (pc->client_id.empty()) {
    // [MQTT-3.1.3-7/8]: 3.1.1 needs clean session for an empty id; 3.1 has no empty ids.
    if (!cfg.allow_zero_length_clientid || version_ == ProtocolVersion::v31 ||
        (!v5 && !c.clean_start)) {
      fail(ReasonCode::client_identifier_not_valid, "empty client identifier");
      return;
    }
    pc->client_id = broker_.next_auto_id();
    pc->assigned = true;
  }
  client_id_ = pc->client_id;
  if (c.username) username_ = std::string(*c.username);
  pc->clean_start = c.clean_start;
  pc->bridge = c.bridge;
  pc->keep_alive_s = c.keep_alive_s;

  if (v5) {
    const auto& pr = c.properties;
    if (pr.receive_maximum) client_receive_max_ = *pr.receive_maximum;
    if (pr.maximum_packet_size) client_max_packet_ = *pr.maximum_packet_size;
    if (pr.topic_alias_maximum) client_alias_max_ = *pr.topic_alias_maximum;
    if (pr.request_problem_information) problem_info_ = *pr.request_problem_information != 0;
    connect_had_expiry_zero_ = pr.session_expiry_interval.value_or(0) == 0;
    pc->session_expiry_s = pr.session_expiry_interval.value_or(0);
  }
  if (c.will) {
    const auto& w = *c.will;
    if (w.qos > cfg.maximum_qos) {
      fail(ReasonCode::qos_not_supported, "will QoS not supported");  // [MQTT-3.2.2-12]
      return;
    }
    if (w.retain && !cfg.retain_available) {
      fail(ReasonCode::retain_not_supported, "retain not supported");  // [MQTT-3.2.2-13]
      return;
    }
    std::string topic = mount_;
    topic += w.topic;
    pc->will = make_message(std::move(topic), w.qos, w.retain, v5 ? &w.properties : nullptr,
                            w.payload, pc->client_id, std::nullopt);
    if (v5) {
      pc->will_delay_s = w.properties.will_delay_interval.value_or(0);
      pc->will_expiry_s = w.properties.message_expiry_interval;
    }
  }

  AuthRequest req;
  req.client_id = pc->client_id;
  req.username = c.username;
  req.password = c.password;
  req.remote_address = info_.remote_address;
  req.listener = info_.listener;
  if (info_.ticket) req.ticket = *info_.ticket;
  if (info_.cert_identity) req.cert_identity = *info_.cert_identity;
  pending_ = std::move(pc);

  // Authentication: an enhanced method (v5, AUTH exchange), else the Authenticator, else the
  // listener's allow_anonymous.
  Authenticator* auth = broker_.authenticator_;
  if (v5 && c.properties.authentication_method) {
    const std::string_view method = *c.properties.authentication_method;
    if (auth == nullptr || !auth->supports_method(method)) {
      fail(ReasonCode::bad_authentication_method, "authentication method not supported");
      return;
    }
    auth_method_ = std::string(method);
    req.auth_method = c.properties.authentication_method;
    req.auth_data = c.properties.authentication_data;
    on_auth_step(auth->start_auth(req, exchange_));
    return;
  }
  AuthDecision d;
  if (auth != nullptr) {
    d = auth->authenticate(req);
  } else if (info_.listener != nullptr && !info_.listener->allow_anonymous && !c.username) {
    d.reason = ReasonCode::not_authorized;
    d.log_detail = "anonymous clients not allowed";
  }
  if (d.reason != ReasonCode::success) {
    fail(d.reason, d.log_detail.empty() ? std::string_view(protocol::to_string(d.reason))
                                        : std::string_view(d.log_detail));
    return;
  }
  complete_connect(d, {});
}

void Connection::Impl::on_auth_step(AuthStep step) {
  const AuthDecision& d = step.decision;
  if (d.reason == ReasonCode::continue_authentication) {
    protocol::Auth a;
    a.reason = ReasonCode::continue_authentication;
    a.properties.authentication_method = *auth_method_;
    if (!step.auth_data.empty()) a.properties.authentication_data = step.auth_data;
    send(a);
    return;
  }
  if (d.reason != ReasonCode::success) {
    exchange_.reset();
    fail(d.reason, d.log_detail.empty() ? std::string_view(protocol::to_string(d.reason))
                                        : std::string_view(d.log_detail));
    return;
  }
  exchange_.reset();
  if (pending_) {
    complete_connect(d, step.auth_data);
    return;
  }
  // Re-authentication succeeded [MQTT-4.12.1]: new identity, AUTH 0x00 to the client.
  if (session_ != nullptr) {
    if (d.username) session_->username = d.username;
    session_->grants = d.grants;
  }
  credentials_expire_ = d.expires;
  protocol::Auth a;
  a.reason = ReasonCode::success;
  a.properties.authentication_method = *auth_method_;
  if (!step.auth_data.empty()) a.properties.authentication_data = step.auth_data;
  send(a);
}

void Connection::Impl::complete_connect(const AuthDecision& d,
                                        std::span<const std::uint8_t> auth_data) {
  const BrokerConfig& cfg = broker_.config_;
  const bool v5 = version_ == ProtocolVersion::v5;
  std::unique_ptr<PendingConnect> pc = std::move(pending_);
  const std::string& client_id = pc->client_id;
  credentials_expire_ = d.expires;

  // Session: takeover, clean start, resume [MQTT-3.1.2-4..6], [MQTT-3.1.4-3].
  Session* s = broker_.find_session(client_id);
  if (s != nullptr && s->conn != nullptr) {
    Connection::Impl* old = s->conn;
    old->server_disconnect(ReasonCode::session_taken_over, "session taken over", true);
    old->detach(old->will_on_close_);
    s = broker_.find_session(client_id);  // may have ended (expiry 0)
  }
  if (s != nullptr && (pc->clean_start || (s->expires_at && *s->expires_at <= broker_.now()))) {
    broker_.end_session(*s);
    s = nullptr;
  }
  const bool present = s != nullptr;
  if (s == nullptr) s = &broker_.create_session(client_id);
  session_ = s;
  s->conn = this;
  s->version = version_;
  s->bridge = pc->bridge;
  s->username = d.username ? d.username : username_;
  s->grants = d.grants;
  s->expires_at.reset();
  // A pending delayed will is cancelled by the reconnect [MQTT-3.1.3-9]; the new one applies.
  s->will = std::move(pc->will);
  s->will_due.reset();
  s->will_expiry_s = pc->will_expiry_s;
  s->will_delay_s = pc->will_delay_s;
  const std::uint16_t broker_max =
      cfg.max_inflight_messages == 0 ? std::uint16_t{65535} : cfg.max_inflight_messages;
  s->inflight_max = std::min(client_receive_max_, broker_max);
  if (v5) {
    const std::uint32_t e = pc->session_expiry_s;
    s->expiry_s = e == 0xFFFFFFFFu ? std::nullopt : std::optional<std::uint32_t>(e);
  } else if (pc->clean_start) {
    s->expiry_s = 0;
  } else if (cfg.persistent_client_expiration) {
    s->expiry_s = static_cast<std::uint32_t>(cfg.persistent_client_expiration->count());
  } else {
    s->expiry_s.reset();
  }
  ++broker_.stats_.clients_connected;
  alias_in_.assign(cfg.max_topic_alias, std::string());

  // Keep alive: v5 clients asking more than max_keepalive (or 0 while a maximum is set) get
  // the maximum as Server Keep Alive [MQTT-3.2.2-21].
  keep_alive_s_ = pc->keep_alive_s;
  std::optional<std::uint16_t> server_keep_alive;
  if (v5 && cfg.max_keepalive < 65535 &&
      (pc->keep_alive_s == 0 || pc->keep_alive_s > cfg.max_keepalive)) {
    keep_alive_s_ = cfg.max_keepalive;
    server_keep_alive = cfg.max_keepalive;
  } else if (v5 && pc->keep_alive_s > cfg.max_keepalive) {
    keep_alive_s_ = cfg.max_keepalive;
    server_keep_alive = cfg.max_keepalive;
  }

  protocol::ConnAck ack;
  ack.session_present = present;
  if (v5) {
    auto& pr = ack.properties;
    if (broker_max != 65535) pr.receive_maximum = broker_max;
    if (cfg.maximum_qos != QoS::exactly_once) {
      pr.maximum_qos = static_cast<std::uint8_t>(cfg.maximum_qos);
    }
    if (!cfg.retain_available) pr.retain_available = 0;
    if (cfg.max_packet_bytes != 0) pr.maximum_packet_size = cfg.max_packet_bytes;
    if (pc->assigned) pr.assigned_client_identifier = s->client_id;
    if (cfg.max_topic_alias != 0) pr.topic_alias_maximum = cfg.max_topic_alias;
    pr.server_keep_alive = server_keep_alive;
    if (auth_method_) pr.authentication_method = *auth_method_;
    if (!auth_data.empty()) pr.authentication_data = auth_data;
  }
  state_ = State::connected;
  in_connect_ = false;
  connected_once_ = true;
  send(ack);
  broker_.persist_session(*s);

  std::string line = "New client connected from ";
  line += info_.remote_address;
  line += " as ";
  line += client_id;
  line += " (";
  line += to_string(info_.transport);
  line += ", v";
  line += version_name(version_);
  if (pc->bridge) line += ", bridge";
  line += pc->clean_start ? ", c1" : ", c0";
  line += ", k" + std::to_string(keep_alive_s_);
  if (s->username) line += ", u'" + *s->username + "'";
  if (auth_method_) line += ", auth " + *auth_method_;
  line += ")";
  broker_.log(LogLevel::notice, line);

  resume_session();
}

void Connection::Impl::resume_session() {
  Session& s = *session_;
  if (!s.inflight.empty()) {
    std::vector<Outbound*> order;
    order.reserve(s.inflight.size());
    for (auto& [id, ob] : s.inflight) order.push_back(&ob);
    std::sort(order.begin(), order.end(),
              [](const Outbound* a, const Outbound* b) { return a->seq < b->seq; });
    // [MQTT-4.4.0-1] resend unacknowledged PUBLISH (DUP) and PUBREL, in their original order.
    for (Outbound* ob : order) {
      if (ob->state == InflightState::pubrec_received) {
        send(protocol::PubRel{ob->id, ReasonCode::success, {}});
      } else {
        push_publish(*ob, publish_size(*ob->msg, ob->qos, ob->sub_ids));
      }
    }
  }
  broker_.drain(s);
}

// ---- PUBLISH in ---------------------------------------------------------------------------

void Connection::Impl::on_publish(protocol::Publish& p) {
  const BrokerConfig& cfg = broker_.config_;
  const bool v5 = version_ == ProtocolVersion::v5;
  if (p.qos > cfg.maximum_qos) {
    fail(ReasonCode::qos_not_supported, "QoS not supported");  // [MQTT-3.2.2-11]
    return;
  }
  if (p.retain && !cfg.retain_available) {
    fail(ReasonCode::retain_not_supported, "retain not supported");  // [MQTT-3.2.2-14]
    return;
  }
  std::string_view topic = p.topic;
  if (v5 && p.properties.topic_alias) {
    const std::uint16_t a = *p.properties.topic_alias;
    if (a == 0 || a > alias_in_.size()) {
      fail(ReasonCode::topic_alias_invalid, "topic alias out of range");  // [MQTT-3.3.2-9/10]
      return;
    }
    std::string& slot = alias_in_[a - 1u];
    if (topic.empty()) {
      if (slot.empty()) {
        fail(ReasonCode::protocol_error, "unknown topic alias");
        return;
      }
      topic = slot;
    } else {
      slot.assign(topic);
    }
  }
  if (topic.empty()) {
    fail(ReasonCode::protocol_error, "empty topic name without topic alias");
    return;
  }
  if (!protocol::valid_topic_name(topic)) {
    fail(ReasonCode::topic_name_invalid, "invalid topic name");
    return;
  }
  Session& s = *session_;
  const bool dup_qos2 = p.qos == QoS::exactly_once && s.incoming_qos2.contains(p.id);
  if (v5 && p.qos != QoS::at_most_once && !dup_qos2 &&
      s.incoming_qos2.size() + deferred_acks_ >= broker_.config_.max_inflight_messages &&
      broker_.config_.max_inflight_messages != 0) {
    fail(ReasonCode::receive_maximum_exceeded, "receive maximum exceeded");  // [MQTT-3.3.4-9]
    return;
  }
  ++broker_.stats_.messages_received;
  if (dup_qos2) {  // exactly once: already routed, only acknowledge again [MQTT-4.3.3-9]
    send(protocol::PubRec{p.id, ReasonCode::success, {}});
    return;
  }

  ReasonCode deny = ReasonCode::success;
  std::string_view why;
  if (topic.front() == '$') {
    deny = ReasonCode::not_authorized;  // $-topics ($SYS ...) are the broker's [MQTT-4.7.2]
    why = "topics starting with $ are reserved";
  } else if (cfg.message_size_limit != 0 && p.payload.size() > cfg.message_size_limit) {
    deny = ReasonCode::implementation_specific_error;
    why = "payload larger than message_size_limit";
  } else if (broker_.authorizer_ != nullptr) {
    std::string full = mount_;
    full += topic;
    if (!broker_.authorized(s, full, Access::write)) {
      deny = ReasonCode::not_authorized;
      why = "publish not authorized";
    }
  }
  if (deny != ReasonCode::success) {
    ++broker_.stats_.publish_dropped;
    // v5 answers with the reason (and a reason string unless the client asked for none
    // [MQTT-3.1.2-29]); 3.1.1 has no failure code: the flow completes normally.
    protocol::Properties props;
    if (v5 && problem_info_) props.reason_string = why;
    if (p.qos == QoS::at_least_once) {
      send(protocol::PubAck{p.id, v5 ? deny : ReasonCode::success,
                            v5 ? props : protocol::Properties{}});
    } else if (p.qos == QoS::exactly_once) {
      if (!v5) {
        s.incoming_qos2.insert(p.id);
        send(protocol::PubRec{p.id, ReasonCode::success, {}});
      } else {
        send(protocol::PubRec{p.id, deny, props});
      }
    }
    return;
  }

  std::optional<TimePoint> expiry;
  if (v5 && p.properties.message_expiry_interval) {
    expiry = broker_.now() + std::chrono::seconds(*p.properties.message_expiry_interval);
  }
  std::string full_topic;
  full_topic.reserve(mount_.size() + topic.size());
  full_topic += mount_;
  full_topic += topic;
  MessageRef msg = make_message(std::move(full_topic), p.qos, p.retain,
                                v5 ? &p.properties : nullptr, p.payload, s.client_id, expiry);
  const bool stored = broker_.publish_message(msg);
  const bool durable_wait = stored && broker_.persistence_ != nullptr;
  const ReasonCode ok =
      v5 && broker_.last_matched_ == 0 ? ReasonCode::no_matching_subscribers : ReasonCode::success;
  if (p.qos == QoS::at_least_once) {
    if (durable_wait) {
      send_ack_later(protocol::PacketType::puback, p.id, ok);
    } else {
      send(protocol::PubAck{p.id, ok, {}});
    }
  } else if (p.qos == QoS::exactly_once) {
    s.incoming_qos2.insert(p.id);
    if (broker_.persistence_ != nullptr && s.persistent()) {
      broker_.persistence_->incoming_qos2_add(s.client_id, p.id);
    }
    if (durable_wait) {
      send_ack_later(protocol::PacketType::pubrec, p.id, ok);
    } else {
      send(protocol::PubRec{p.id, ok, {}});
    }
  }
}

void Connection::Impl::send_ack_later(protocol::PacketType type, protocol::PacketId id,
                                      ReasonCode rc) {
  if (type == protocol::PacketType::puback) ++deferred_acks_;
  std::weak_ptr<Impl*> weak = alive_;
  broker_.persistence_->when_durable([weak, type, id, rc] {
    auto strong = weak.lock();
    if (!strong) return;
    Impl* c = *strong;
    if (type == protocol::PacketType::puback) {
      --c->deferred_acks_;
      if (c->state_ == State::connected) c->send(protocol::PubAck{id, rc, {}});
    } else if (c->state_ == State::connected) {
      c->send(protocol::PubRec{id, rc, {}});
    }
  });
}

// ---- acknowledgements of our publishes ---------------------------------------------------

void Connection::Impl::on_puback(const protocol::PubAck& p) {
  Session& s = *session_;
  auto it = s.inflight.find(p.id);
  if (it == s.inflight.end() || it->second.qos != QoS::at_least_once) return;  // stale: ignore
  s.inflight.erase(it);
  if (broker_.persistence_ != nullptr && s.persistent()) {
    broker_.persistence_->inflight_clear(s.client_id, p.id);
  }
  broker_.drain(s);
}

void Connection::Impl::on_pubrec(const protocol::PubRec& p) {
  Session& s = *session_;
  auto it = s.inflight.find(p.id);
  if (it == s.inflight.end() || it->second.qos != QoS::exactly_once) {
    send(protocol::PubRel{p.id,
                          version_ == ProtocolVersion::v5 ? ReasonCode::packet_identifier_not_found
                                                          : ReasonCode::success,
                          {}});
    return;
  }
  const bool persist = broker_.persistence_ != nullptr && s.persistent();
  if (protocol::is_error(p.reason)) {  // the flow ends here [MQTT-4.3.3-?], id is free again
    s.inflight.erase(it);
    if (persist) broker_.persistence_->inflight_clear(s.client_id, p.id);
    broker_.drain(s);
    return;
  }
  Outbound& ob = it->second;
  if (ob.state != InflightState::pubrec_received) {
    ob.state = InflightState::pubrec_received;
    ob.msg.reset();  // the message itself is delivered; only the id remains in flight
    if (persist) {
      StoredOutbound so;
      so.id = p.id;
      so.qos = QoS::exactly_once;
      so.state = InflightState::pubrec_received;
      broker_.persistence_->inflight_set(s.client_id, so);
    }
  }
  send(protocol::PubRel{p.id, ReasonCode::success, {}});
}

void Connection::Impl::on_pubrel(const protocol::PubRel& p) {
  Session& s = *session_;
  const bool known = s.incoming_qos2.erase(p.id) > 0;
  if (known && broker_.persistence_ != nullptr && s.persistent()) {
    broker_.persistence_->incoming_qos2_remove(s.client_id, p.id);
  }
  send(protocol::PubComp{p.id,
                         !known && version_ == ProtocolVersion::v5
                             ? ReasonCode::packet_identifier_not_found
                             : ReasonCode::success,
                         {}});
}

void Connection::Impl::on_pubcomp(const protocol::PubComp& p) {
  Session& s = *session_;
  auto it = s.inflight.find(p.id);
  if (it == s.inflight.end() || it->second.qos != QoS::exactly_once) return;
  s.inflight.erase(it);
  if (broker_.persistence_ != nullptr && s.persistent()) {
    broker_.persistence_->inflight_clear(s.client_id, p.id);
  }
  broker_.drain(s);
}

// ---- SUBSCRIBE / UNSUBSCRIBE --------------------------------------------------------------

void Connection::Impl::on_subscribe(const protocol::Subscribe& p) {
  Session& s = *session_;
  const BrokerConfig& cfg = broker_.config_;
  const bool v5 = version_ == ProtocolVersion::v5;
  const std::uint32_t sub_id =
      p.properties.subscription_identifiers.empty() ? 0 : p.properties.subscription_identifiers[0];
  struct RetainedTodo {
    std::string filter;
    QoS granted;
  };
  std::vector<RetainedTodo> todo;
  protocol::SubAck ack;
  ack.id = p.id;
  ack.reasons.reserve(p.subscriptions.size());
  const ReasonCode failure_v3 = ReasonCode::unspecified_error;  // 3.1.1 SUBACK 0x80
  for (const auto& ts : p.subscriptions) {
    const std::string_view f = ts.filter;
    std::optional<protocol::SharedFilter> shared;
    bool valid = true;
    if (protocol::is_shared(f)) {
      shared = protocol::parse_shared(f);
      valid = shared.has_value();
    } else {
      valid = protocol::valid_topic_filter(f);
    }
    if (!valid) {
      ack.reasons.push_back(v5 ? ReasonCode::topic_filter_invalid : failure_v3);
      continue;
    }
    if (shared && ts.options.no_local && v5) {
      fail(ReasonCode::protocol_error, "no local on a shared subscription");  // [MQTT-3.8.3-4]
      return;
    }
    std::string real = mount_;  // the filter without $share, with the mount point
    real += shared ? shared->filter : f;
    std::string full;
    if (shared) {
      full = "$share/";
      full += shared->group;
      full += '/';
      full += real;
    } else {
      full = real;
    }
    if (broker_.authorizer_ != nullptr && !broker_.authorized(s, full, Access::subscribe)) {
      ack.reasons.push_back(v5 ? ReasonCode::not_authorized : failure_v3);
      continue;
    }
    const QoS granted = min_qos(ts.options.qos, cfg.maximum_qos);
    SubscriberOptions o;
    o.qos = granted;
    o.no_local = ts.options.no_local;
    o.retain_as_published = ts.options.retain_as_published;
    o.retain_handling = ts.options.retain_handling;
    o.subscription_id = sub_id;
    if (s.bridge) {  // a two-way bridge must never loop or lose the retain flag
      o.no_local = true;
      o.retain_as_published = true;
    }
    const bool existed = broker_.tree_.find(full, s.id()) != nullptr;
    broker_.tree_.subscribe(full, s.id(), o);
    ack.reasons.push_back(static_cast<ReasonCode>(static_cast<std::uint8_t>(granted)));
    // [MQTT-3.3.1-10/11] retain handling; shared subscriptions get no retained messages.
    if (!shared && (o.retain_handling == 0 || (o.retain_handling == 1 && !existed))) {
      todo.push_back({std::move(real), granted});
    }
  }
  send(ack);  // SUBACK first, then the retained messages
  broker_.persist_session(s);
  for (auto& t : todo) broker_.deliver_retained(s, t.filter, t.granted);
}

void Connection::Impl::on_unsubscribe(const protocol::Unsubscribe& p) {
  Session& s = *session_;
  protocol::UnsubAck ack;
  ack.id = p.id;
  for (std::string_view f : p.filters) {
    bool removed = false;
    if (protocol::is_shared(f)) {
      if (auto sf = protocol::parse_shared(f)) {
        std::string full = "$share/";
        full += sf->group;
        full += '/';
        full += mount_;
        full += sf->filter;
        removed = broker_.tree_.unsubscribe(full, s.id());
      }
    } else {
      std::string full = mount_;
      full += f;
      removed = broker_.tree_.unsubscribe(full, s.id());
    }
    if (version_ == ProtocolVersion::v5) {
      ack.reasons.push_back(removed ? ReasonCode::success : ReasonCode::no_subscription_existed);
    }
  }
  send(ack);
  broker_.persist_session(s);
}

// ---- DISCONNECT / AUTH --------------------------------------------------------------------

void Connection::Impl::on_disconnect(const protocol::Disconnect& p) {
  Session& s = *session_;
  if (version_ == ProtocolVersion::v5 && p.properties.session_expiry_interval) {
    const std::uint32_t e = *p.properties.session_expiry_interval;
    if (connect_had_expiry_zero_ && e != 0) {
      fail(ReasonCode::protocol_error, "session expiry set on DISCONNECT after 0");  // 3.14.2-2
      return;
    }
    s.expiry_s = e == 0xFFFFFFFFu ? std::nullopt : std::optional<std::uint32_t>(e);
  }
  // [MQTT-3.14.4-3] a normal DISCONNECT discards the will; 0x04 asks for it.
  const bool with_will =
      version_ == ProtocolVersion::v5 && p.reason == ReasonCode::disconnect_with_will_message;
  will_on_close_ = with_will;
  close_reason_ = with_will ? "disconnect with will" : "disconnected";
  detach(with_will);
  close(ReasonCode::normal_disconnection);
}

void Connection::Impl::on_auth(const protocol::Auth& p) {
  // [MQTT-4.12.0-1..7] AUTH only within an exchange started by CONNECT's method, same method.
  if (!auth_method_ ||
      p.properties.authentication_method != std::optional<std::string_view>(*auth_method_)) {
    fail(ReasonCode::protocol_error, "AUTH without the CONNECT's authentication method");
    return;
  }
  Authenticator* auth = broker_.authenticator_;
  const protocol::ByteSpan data = p.properties.authentication_data.value_or(protocol::ByteSpan{});
  if (p.reason == ReasonCode::continue_authentication && exchange_ != nullptr) {
    on_auth_step(auth->continue_auth(*exchange_, data));
    return;
  }
  if (p.reason == ReasonCode::re_authenticate && state_ == State::connected &&
      exchange_ == nullptr) {
    AuthRequest req;
    req.client_id = client_id_;
    if (session_ != nullptr && session_->username) req.username = *session_->username;
    req.remote_address = info_.remote_address;
    req.listener = info_.listener;
    if (info_.ticket) req.ticket = *info_.ticket;
    if (info_.cert_identity) req.cert_identity = *info_.cert_identity;
    req.auth_method = *auth_method_;
    req.auth_data = data;
    on_auth_step(auth->start_auth(req, exchange_));
    return;
  }
  fail(ReasonCode::protocol_error, "unexpected AUTH");
}

// ---- errors and closing -------------------------------------------------------------------

void Connection::Impl::fail(ReasonCode reason, std::string_view detail) {
  if (state_ == State::closing || state_ == State::closed) return;
  if (in_connect_) {
    const bool v3_has_code =
        reason != ReasonCode::malformed_packet && reason != ReasonCode::protocol_error;
    if (version_ == ProtocolVersion::v5) {
      protocol::ConnAck a;
      a.reason = reason;
      if (problem_info_ && !detail.empty()) a.properties.reason_string = detail;
      send(a);
    } else if (v3_has_code) {  // [MQTT-3.1.4-1]: malformed CONNECT -> close, no CONNACK
      send(protocol::ConnAck{false, reason, {}});
    }
  } else if (state_ == State::connected && version_ == ProtocolVersion::v5) {
    protocol::Disconnect d;
    d.reason = protocol::disconnect_for(reason);  // e.g. a failed re-auth's 0x86 -> 0x87
    if (!detail.empty()) d.properties.reason_string = detail;
    send(d);
  }
  close_reason_ = detail;
  log_line(in_connect_ ? "refused" : "error", detail);
  in_connect_ = false;
  close(reason);
}

void Connection::Impl::server_disconnect(ReasonCode reason, std::string_view detail,
                                         bool abnormal) {
  if (state_ == State::closing || state_ == State::closed) return;
  will_on_close_ = will_on_close_ && abnormal;
  if (state_ == State::connected && version_ == ProtocolVersion::v5) {
    protocol::Disconnect d;
    d.reason = protocol::disconnect_for(reason);
    send(d);
  }
  close_reason_ = detail;
  close(reason);
}

void Connection::Impl::close(ReasonCode why) {
  if (state_ == State::closing || state_ == State::closed) return;
  state_ = State::closing;
  peer_.close(why);
}

void Connection::Impl::detach(bool abnormal) {
  if (session_ == nullptr) return;
  Session& s = *session_;
  session_ = nullptr;
  s.conn = nullptr;
  if (broker_.stats_.clients_connected > 0) --broker_.stats_.clients_connected;
  broker_.session_offline(s, abnormal);
}

void Connection::Impl::on_closed() {
  if (state_ == State::closed) return;
  const bool was_live = connected_once_;
  state_ = State::closed;
  if (was_live) {
    log_line("disconnected", close_reason_.empty() ? "connection lost" : close_reason_);
  }
  detach(will_on_close_);
  out_.release();
  ctrl_.clear();
  queued_bytes_ = 0;
  broker_.connections_.erase(this);
}

void Connection::Impl::log_line(std::string_view what, std::string_view reason) {
  if (broker_.logger_ == nullptr) return;
  std::string line = "Client ";
  line += client_id_.empty() ? std::string("<unknown>") : client_id_;
  line += " from ";
  line += info_.remote_address;
  line += " (";
  line += to_string(info_.transport);
  line += ", v";
  line += version_name(version_);
  line += ") ";
  line += what;
  line += ": ";
  line += reason;
  broker_.log(LogLevel::notice, line);
}

// ---- output -------------------------------------------------------------------------------

std::string_view Connection::Impl::strip_mount(std::string_view topic) const noexcept {
  if (!mount_.empty() && topic.size() >= mount_.size() &&
      topic.compare(0, mount_.size(), mount_) == 0) {
    return topic.substr(mount_.size());
  }
  return topic;
}

std::size_t Connection::Impl::publish_size(const Message& m, QoS qos,
                                           std::span<const std::uint32_t> sub_ids) const noexcept {
  protocol::PublishHead h;
  h.topic = strip_mount(m.topic);
  h.qos = qos;
  h.id = qos == QoS::at_most_once ? 0 : 1;
  if (version_ == ProtocolVersion::v5) {
    if (m.expiry) h.message_expiry_s = 1;
    h.subscription_ids = sub_ids;
    h.forwarded_props_len = m.payload_offset;
  }
  h.payload_len = m.bytes.size() - m.payload_offset;
  return protocol::publish_packet_size(h, version_);
}

void Connection::Impl::push_publish(const Outbound& ob, std::size_t size) {
  OutItem item;
  item.msg = ob.msg;
  item.id = ob.id;
  item.qos = ob.qos;
  item.retain = ob.retain;
  item.dup = ob.dup;
  item.sub_ids = ob.sub_ids;
  item.size = size;
  push_item(std::move(item));
}

void Connection::Impl::push_publish(Outbound&& ob, std::size_t size) {
  OutItem item;
  item.msg = std::move(ob.msg);
  item.id = ob.id;
  item.qos = ob.qos;
  item.retain = ob.retain;
  item.dup = ob.dup;
  item.sub_ids = std::move(ob.sub_ids);
  item.size = size;
  push_item(std::move(item));
}

void Connection::Impl::push_item(OutItem&& item) {
  const bool was_empty = out_.empty();
  const std::size_t n = item.size;
  out_.push_back(std::move(item));
  after_enqueue(was_empty, n);
}

void Connection::Impl::after_enqueue(bool was_empty, std::size_t bytes) {
  queued_bytes_ += bytes;
  if (was_empty) peer_.want_write();
  const BrokerConfig& cfg = broker_.config_;
  if (!paused_ && queued_bytes_ > cfg.output_high_water_bytes) {
    paused_ = true;
    peer_.pause_reading(true);
  }
  if (cfg.output_hard_limit_bytes != 0 && queued_bytes_ > cfg.output_hard_limit_bytes &&
      state_ == State::connected) {
    // Too slow a reader. No detach here: we may be inside routing; on_closed() detaches.
    close_reason_ = "output queue over hard limit";
    close(ReasonCode::quota_exceeded);
  }
}

void Connection::Impl::start_publish_item(OutItem& item) {
  const Message& m = *item.msg;
  protocol::PublishHead h;
  h.topic = strip_mount(m.topic);
  h.qos = item.qos;
  h.retain = item.retain;
  h.dup = item.dup;
  h.id = item.id;
  if (version_ == ProtocolVersion::v5) {
    if (m.expiry)
      h.message_expiry_s = std::max<std::uint32_t>(1, expiry_remaining_s(*m.expiry, broker_.now()));
    if (client_alias_max_ != 0) {
      auto it = alias_out_.find(h.topic);
      if (it != alias_out_.end()) {
        h.topic_alias = it->second;
        h.topic = {};
      } else if (alias_out_.size() < client_alias_max_) {
        const auto a = static_cast<std::uint16_t>(alias_out_.size() + 1);
        alias_out_.emplace(std::string(h.topic), a);
        h.topic_alias = a;
      }
    }
    h.subscription_ids = item.sub_ids;
    h.forwarded_props_len = m.payload_offset;
    cur_props_ = m.forwarded_properties();
  } else {
    cur_props_ = {};
  }
  cur_payload_ = m.payload();
  h.payload_len = cur_payload_.size();
  head_.clear();
  protocol::ByteWriter w(head_);
  protocol::encode_publish_head(h, version_, w);
  cur_started_ = true;
  cur_off_ = 0;
}

std::size_t Connection::Impl::fill_output(std::span<std::uint8_t> out) {
  std::size_t n = 0;
  const TimePoint now = broker_.now();
  while (n < out.size() && !out_.empty()) {
    OutItem& item = out_.front();
    bool done = false;
    if (!item.msg) {
      const std::size_t k = std::min<std::size_t>(item.ctrl_len - cur_off_, out.size() - n);
      std::memcpy(out.data() + n, ctrl_.data() + ctrl_read_ + cur_off_, k);
      n += k;
      cur_off_ += k;
      if (cur_off_ == item.ctrl_len) {
        ctrl_read_ += item.ctrl_len;
        done = true;
      }
    } else {
      if (!cur_started_) {
        // [MQTT-3.3.2-5] an expired message whose delivery has not started is dropped.
        if (item.msg->expiry && *item.msg->expiry <= now && !item.dup) {
          if (item.qos != QoS::at_most_once && session_ != nullptr) {
            session_->inflight.erase(item.id);
            if (broker_.persistence_ != nullptr && session_->persistent()) {
              broker_.persistence_->inflight_clear(session_->client_id, item.id);
            }
          }
          queued_bytes_ -= std::min(queued_bytes_, item.size);
          out_.pop_front();
          continue;
        }
        start_publish_item(item);
      }
      const std::size_t head = head_.size();
      const std::size_t props = cur_props_.size();
      const std::size_t total = head + props + cur_payload_.size();
      while (n < out.size() && cur_off_ < total) {
        const std::uint8_t* src;
        std::size_t avail;
        if (cur_off_ < head) {
          src = head_.data() + cur_off_;
          avail = head - cur_off_;
        } else if (cur_off_ < head + props) {
          src = cur_props_.data() + (cur_off_ - head);
          avail = head + props - cur_off_;
        } else {
          src = cur_payload_.data() + (cur_off_ - head - props);
          avail = total - cur_off_;
        }
        const std::size_t k = std::min(avail, out.size() - n);
        std::memcpy(out.data() + n, src, k);
        n += k;
        cur_off_ += k;
      }
      if (cur_off_ == total) {
        done = true;
        ++broker_.stats_.messages_sent;
        if (item.qos != QoS::at_most_once && session_ != nullptr) {
          auto it = session_->inflight.find(item.id);
          if (it != session_->inflight.end()) it->second.dup = true;  // DUP on any resend
        }
      }
    }
    if (done) {
      queued_bytes_ -= std::min(queued_bytes_, item.size);
      out_.pop_front();
      cur_off_ = 0;
      cur_started_ = false;
    }
  }
  if (out_.empty()) {
    out_.release();
    if (ctrl_.capacity() > 4096) {
      std::vector<std::uint8_t>().swap(ctrl_);
    } else {
      ctrl_.clear();
    }
    ctrl_read_ = 0;
  } else if (ctrl_read_ > 65536 && ctrl_read_ * 2 > ctrl_.size()) {
    ctrl_.erase(ctrl_.begin(), ctrl_.begin() + static_cast<std::ptrdiff_t>(ctrl_read_));
    ctrl_read_ = 0;
  }
  broker_.stats_.bytes_sent += n;
  const BrokerConfig& cfg = broker_.config_;
  if (paused_ && queued_bytes_ <= cfg.output_low_water_bytes) {
    paused_ = false;
    peer_.pause_reading(false);
  }
  if (session_ != nullptr && state_ == State::connected && !session_->queue.empty() &&
      queued_bytes_ <= cfg.output_low_water_bytes) {
    broker_.drain(*session_);
  }
  return n;
}

QoS min_qos(QoS a, QoS b) noexcept { return a < b ? a : b; }

}  // namespace broker::core
