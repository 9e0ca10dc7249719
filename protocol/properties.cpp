// MQTT 5 property set: emptiness, equality and encoded size [MQTT-2.2.2].
#include "protocol/properties.h"

#include <algorithm>

#include "protocol/encoder.h"

namespace protocol {
namespace {

bool same_bytes(const std::optional<ByteSpan>& a, const std::optional<ByteSpan>& b) noexcept {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return true;
  return std::equal(a->begin(), a->end(), b->begin(), b->end());
}

// Identifier byte + string (two-byte length prefix).
std::size_t string_prop(const std::optional<std::string_view>& s) noexcept {
  return s ? 1 + 2 + s->size() : 0;
}
std::size_t binary_prop(const std::optional<ByteSpan>& b) noexcept {
  return b ? 1 + 2 + b->size() : 0;
}
template <class T>
std::size_t int_prop(const std::optional<T>& v) noexcept {
  return v ? 1 + sizeof(T) : 0;
}

}  // namespace

bool Properties::empty() const noexcept {
  return !payload_format_indicator && !message_expiry_interval && !content_type &&
         !response_topic && !correlation_data && subscription_identifiers.empty() &&
         !session_expiry_interval && !assigned_client_identifier && !server_keep_alive &&
         !authentication_method && !authentication_data && !request_problem_information &&
         !will_delay_interval && !request_response_information && !response_information &&
         !server_reference && !reason_string && !receive_maximum && !topic_alias_maximum &&
         !topic_alias && !maximum_qos && !retain_available && user_properties.empty() &&
         !maximum_packet_size && !wildcard_subscription_available &&
         !subscription_identifier_available && !shared_subscription_available;
}

bool operator==(const Properties& a, const Properties& b) noexcept {
  return a.payload_format_indicator == b.payload_format_indicator &&
         a.message_expiry_interval == b.message_expiry_interval &&
         a.content_type == b.content_type && a.response_topic == b.response_topic &&
         same_bytes(a.correlation_data, b.correlation_data) &&
         a.subscription_identifiers == b.subscription_identifiers &&
         a.session_expiry_interval == b.session_expiry_interval &&
         a.assigned_client_identifier == b.assigned_client_identifier &&
         a.server_keep_alive == b.server_keep_alive &&
         a.authentication_method == b.authentication_method &&
         same_bytes(a.authentication_data, b.authentication_data) &&
         a.request_problem_information == b.request_problem_information &&
         a.will_delay_interval == b.will_delay_interval &&
         a.request_response_information == b.request_response_information &&
         a.response_information == b.response_information &&
         a.server_reference == b.server_reference && a.reason_string == b.reason_string &&
         a.receive_maximum == b.receive_maximum && a.topic_alias_maximum == b.topic_alias_maximum &&
         a.topic_alias == b.topic_alias && a.maximum_qos == b.maximum_qos &&
         a.retain_available == b.retain_available && a.user_properties == b.user_properties &&
         a.maximum_packet_size == b.maximum_packet_size &&
         a.wildcard_subscription_available == b.wildcard_subscription_available &&
         a.subscription_identifier_available == b.subscription_identifier_available &&
         a.shared_subscription_available == b.shared_subscription_available;
}

std::size_t properties_body_size(const Properties& p) noexcept {
  std::size_t n = 0;
  n += int_prop(p.payload_format_indicator);
  n += int_prop(p.message_expiry_interval);
  n += string_prop(p.content_type);
  n += string_prop(p.response_topic);
  n += binary_prop(p.correlation_data);
  for (std::uint32_t id : p.subscription_identifiers) n += 1 + varint_size(id);
  n += int_prop(p.session_expiry_interval);
  n += string_prop(p.assigned_client_identifier);
  n += int_prop(p.server_keep_alive);
  n += string_prop(p.authentication_method);
  n += binary_prop(p.authentication_data);
  n += int_prop(p.request_problem_information);
  n += int_prop(p.will_delay_interval);
  n += int_prop(p.request_response_information);
  n += string_prop(p.response_information);
  n += string_prop(p.server_reference);
  n += string_prop(p.reason_string);
  n += int_prop(p.receive_maximum);
  n += int_prop(p.topic_alias_maximum);
  n += int_prop(p.topic_alias);
  n += int_prop(p.maximum_qos);
  n += int_prop(p.retain_available);
  for (const UserProperty& u : p.user_properties) n += 1 + 2 + u.key.size() + 2 + u.value.size();
  n += int_prop(p.maximum_packet_size);
  n += int_prop(p.wildcard_subscription_available);
  n += int_prop(p.subscription_identifier_available);
  n += int_prop(p.shared_subscription_available);
  return n;
}

}  // namespace protocol
