// Reason codes: names for logs and the only v5 <-> v3.1.1 CONNACK mapping in the project.
#include "protocol/reason_code.h"

namespace protocol {

ConnackV311 to_connack_v311(ReasonCode r) noexcept {
  switch (r) {
    case ReasonCode::success: return ConnackV311::accepted;
    case ReasonCode::unsupported_protocol_version:
      return ConnackV311::unacceptable_protocol_version;
    case ReasonCode::client_identifier_not_valid: return ConnackV311::identifier_rejected;
    case ReasonCode::bad_user_name_or_password:
    case ReasonCode::bad_authentication_method: return ConnackV311::bad_user_name_or_password;
    case ReasonCode::not_authorized:
    case ReasonCode::banned: return ConnackV311::not_authorized;
    default: return ConnackV311::server_unavailable;
  }
}

ReasonCode disconnect_for(ReasonCode r) noexcept {
  switch (r) {
    case ReasonCode::normal_disconnection:
    case ReasonCode::disconnect_with_will_message:
    case ReasonCode::unspecified_error:
    case ReasonCode::malformed_packet:
    case ReasonCode::protocol_error:
    case ReasonCode::implementation_specific_error:
    case ReasonCode::not_authorized:
    case ReasonCode::server_busy:
    case ReasonCode::server_shutting_down:
    case ReasonCode::keep_alive_timeout:
    case ReasonCode::session_taken_over:
    case ReasonCode::topic_filter_invalid:
    case ReasonCode::topic_name_invalid:
    case ReasonCode::receive_maximum_exceeded:
    case ReasonCode::topic_alias_invalid:
    case ReasonCode::packet_too_large:
    case ReasonCode::message_rate_too_high:
    case ReasonCode::quota_exceeded:
    case ReasonCode::administrative_action:
    case ReasonCode::payload_format_invalid:
    case ReasonCode::retain_not_supported:
    case ReasonCode::qos_not_supported:
    case ReasonCode::use_another_server:
    case ReasonCode::server_moved:
    case ReasonCode::shared_subscriptions_not_supported:
    case ReasonCode::connection_rate_exceeded:
    case ReasonCode::maximum_connect_time:
    case ReasonCode::subscription_identifiers_not_supported:
    case ReasonCode::wildcard_subscriptions_not_supported: return r;
    case ReasonCode::unsupported_protocol_version:
    case ReasonCode::client_identifier_not_valid:
    case ReasonCode::bad_user_name_or_password:
    case ReasonCode::server_unavailable:
    case ReasonCode::banned:
    case ReasonCode::bad_authentication_method: return ReasonCode::not_authorized;
    default: return ReasonCode::unspecified_error;
  }
}

ReasonCode from_connack_v311(ConnackV311 r) noexcept {
  switch (r) {
    case ConnackV311::accepted: return ReasonCode::success;
    case ConnackV311::unacceptable_protocol_version:
      return ReasonCode::unsupported_protocol_version;
    case ConnackV311::identifier_rejected: return ReasonCode::client_identifier_not_valid;
    case ConnackV311::server_unavailable: return ReasonCode::server_unavailable;
    case ConnackV311::bad_user_name_or_password: return ReasonCode::bad_user_name_or_password;
    case ConnackV311::not_authorized: return ReasonCode::not_authorized;
  }
  return ReasonCode::server_unavailable;
}

const char* to_string(ReasonCode r) noexcept {
  switch (r) {
    case ReasonCode::success: return "success";
    case ReasonCode::granted_qos_1: return "granted QoS 1";
    case ReasonCode::granted_qos_2: return "granted QoS 2";
    case ReasonCode::disconnect_with_will_message: return "disconnect with will message";
    case ReasonCode::no_matching_subscribers: return "no matching subscribers";
    case ReasonCode::no_subscription_existed: return "no subscription existed";
    case ReasonCode::continue_authentication: return "continue authentication";
    case ReasonCode::re_authenticate: return "re-authenticate";
    case ReasonCode::unspecified_error: return "unspecified error";
    case ReasonCode::malformed_packet: return "malformed packet";
    case ReasonCode::protocol_error: return "protocol error";
    case ReasonCode::implementation_specific_error: return "implementation specific error";
    case ReasonCode::unsupported_protocol_version: return "unsupported protocol version";
    case ReasonCode::client_identifier_not_valid: return "client identifier not valid";
    case ReasonCode::bad_user_name_or_password: return "bad user name or password";
    case ReasonCode::not_authorized: return "not authorized";
    case ReasonCode::server_unavailable: return "server unavailable";
    case ReasonCode::server_busy: return "server busy";
    case ReasonCode::banned: return "banned";
    case ReasonCode::server_shutting_down: return "server shutting down";
    case ReasonCode::bad_authentication_method: return "bad authentication method";
    case ReasonCode::keep_alive_timeout: return "keep alive timeout";
    case ReasonCode::session_taken_over: return "session taken over";
    case ReasonCode::topic_filter_invalid: return "topic filter invalid";
    case ReasonCode::topic_name_invalid: return "topic name invalid";
    case ReasonCode::packet_identifier_in_use: return "packet identifier in use";
    case ReasonCode::packet_identifier_not_found: return "packet identifier not found";
    case ReasonCode::receive_maximum_exceeded: return "receive maximum exceeded";
    case ReasonCode::topic_alias_invalid: return "topic alias invalid";
    case ReasonCode::packet_too_large: return "packet too large";
    case ReasonCode::message_rate_too_high: return "message rate too high";
    case ReasonCode::quota_exceeded: return "quota exceeded";
    case ReasonCode::administrative_action: return "administrative action";
    case ReasonCode::payload_format_invalid: return "payload format invalid";
    case ReasonCode::retain_not_supported: return "retain not supported";
    case ReasonCode::qos_not_supported: return "QoS not supported";
    case ReasonCode::use_another_server: return "use another server";
    case ReasonCode::server_moved: return "server moved";
    case ReasonCode::shared_subscriptions_not_supported:
      return "shared subscriptions not supported";
    case ReasonCode::connection_rate_exceeded: return "connection rate exceeded";
    case ReasonCode::maximum_connect_time: return "maximum connect time";
    case ReasonCode::subscription_identifiers_not_supported:
      return "subscription identifiers not supported";
    case ReasonCode::wildcard_subscriptions_not_supported:
      return "wildcard subscriptions not supported";
  }
  return "unknown reason code";
}

}  // namespace protocol
