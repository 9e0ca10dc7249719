// Startup checks of a TLS listener's certificate files with mbedTLS: the certificate parses,
// the key parses and matches it, the key is strong enough (RSA >= 2048, EC >= 256 bits), it
// is inside its validity period, and it chains to the configured CA (and CRL, if given). Errors
// name the file and the reason; the broker must not start on one.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "protocol/result.h"

namespace tls {

struct CertCheckRequest {
  std::string certfile;  // PEM or DER; a PEM chain is allowed (leaf first)
  std::string keyfile;   // unencrypted PEM or DER private key
  std::string cafile;    // optional
  std::string capath;    // optional directory of CA certificates
  std::string crlfile;   // optional
};

struct CertInfo {
  std::string subject;
  std::string issuer;
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
};

protocol::Result<CertInfo, protocol::Error> check_certificate(
    const CertCheckRequest& req,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

}  // namespace tls
