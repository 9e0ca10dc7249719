// Certificate/key validation at startup (mbedTLS x509).
#include "tls/cert_check.h"

#include <ctime>

#include "tls/mbed_raii.h"

namespace tls {
namespace {

using detail::mbed_error;
using protocol::fail;
using TimePoint = std::chrono::system_clock::time_point;

TimePoint to_time_point(const mbedtls_x509_time& t) {
  std::tm tm{};
  tm.tm_year = t.year - 1900;
  tm.tm_mon = t.mon - 1;
  tm.tm_mday = t.day;
  tm.tm_hour = t.hour;
  tm.tm_min = t.min;
  tm.tm_sec = t.sec;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string format_time(TimePoint tp) {
  const std::time_t t = std::chrono::system_clock::to_time_t(tp);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string dn(const mbedtls_x509_name& name) {
  char buf[512];
  const int n = mbedtls_x509_dn_gets(buf, sizeof buf, &name);
  return n < 0 ? std::string("?") : std::string(buf, static_cast<std::size_t>(n));
}

}  // namespace

protocol::Result<CertInfo, protocol::Error> check_certificate(const CertCheckRequest& req,
                                                              TimePoint now) {
  if (req.certfile.empty()) return fail("certfile is not set");
  if (req.keyfile.empty()) return fail("keyfile is not set (certfile " + req.certfile + ")");

  detail::Crt crt;
  if (int rc = mbedtls_x509_crt_parse_file(crt.get(), req.certfile.c_str()); rc != 0) {
    // A positive rc means some certificates of a chain failed to parse.
    return fail("certfile " + req.certfile + ": cannot parse certificate: " +
                (rc > 0 ? std::to_string(rc) + " certificate(s) invalid" : mbed_error(rc)));
  }

  detail::PkCtx key;
  if (int rc = mbedtls_pk_parse_keyfile(key.get(), req.keyfile.c_str(), nullptr); rc != 0) {
    if (rc == MBEDTLS_ERR_PK_PASSWORD_REQUIRED) {
      return fail("keyfile " + req.keyfile + ": key is encrypted (not supported)");
    }
    return fail("keyfile " + req.keyfile + ": cannot parse private key: " + mbed_error(rc));
  }
  if (int rc = mbedtls_pk_check_pair(&crt.get()->pk, key.get()); rc != 0) {
    return fail("keyfile " + req.keyfile + ": private key does not match certificate " +
                req.certfile);
  }

  // Minimum key strength: RSA below 2048 bits and EC below 256 bits are refused (modern
  // clients, OpenSSL security level 2, reject them anyway).
  const std::size_t bits = mbedtls_pk_get_bitlen(&crt.get()->pk);
  const bool rsa = mbedtls_pk_get_type(&crt.get()->pk) == MBEDTLS_PK_RSA;
  if ((rsa && bits < 2048) || (!rsa && bits < 256)) {
    return fail("certfile " + req.certfile + ": " + (rsa ? "RSA" : "EC") + " key of " +
                std::to_string(bits) + " bits is too weak (minimum " + (rsa ? "2048" : "256") +
                ")");
  }

  CertInfo info;
  info.subject = dn(crt.get()->subject);
  info.issuer = dn(crt.get()->issuer);
  info.not_before = to_time_point(crt.get()->valid_from);
  info.not_after = to_time_point(crt.get()->valid_to);
  if (now > info.not_after) {
    return fail("certfile " + req.certfile + ": certificate expired on " +
                format_time(info.not_after));
  }
  if (now < info.not_before) {
    return fail("certfile " + req.certfile + ": certificate is not valid before " +
                format_time(info.not_before));
  }

  if (req.cafile.empty() && req.capath.empty()) return info;
  detail::Crt ca;
  if (!req.cafile.empty()) {
    if (int rc = mbedtls_x509_crt_parse_file(ca.get(), req.cafile.c_str()); rc != 0) {
      return fail("cafile " + req.cafile + ": cannot parse: " +
                  (rc > 0 ? std::to_string(rc) + " certificate(s) invalid" : mbed_error(rc)));
    }
  }
  if (!req.capath.empty()) {
    // Non-certificate files in the directory are skipped (rc > 0); only hard errors fail.
    if (int rc = mbedtls_x509_crt_parse_path(ca.get(), req.capath.c_str()); rc < 0) {
      return fail("capath " + req.capath + ": cannot read: " + mbed_error(rc));
    }
  }
  detail::Crl crl;
  mbedtls_x509_crl* crl_ptr = nullptr;
  if (!req.crlfile.empty()) {
    if (int rc = mbedtls_x509_crl_parse_file(crl.get(), req.crlfile.c_str()); rc != 0) {
      return fail("crlfile " + req.crlfile + ": cannot parse: " + mbed_error(rc));
    }
    crl_ptr = crl.get();
  }
  std::uint32_t flags = 0;
  const int rc =
      mbedtls_x509_crt_verify(crt.get(), ca.get(), crl_ptr, nullptr, &flags, nullptr, nullptr);
  if (rc != 0) {
    char buf[512];
    const int n = mbedtls_x509_crt_verify_info(buf, sizeof buf, "", flags);
    std::string why = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : mbed_error(rc);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    for (auto& c : why) {
      if (c == '\n') c = ';';
    }
    const std::string ca_name =
        !req.cafile.empty() ? "cafile " + req.cafile : "capath " + req.capath;
    return fail("certfile " + req.certfile + ": does not verify against " + ca_name + ": " + why);
  }
  return info;
}

}  // namespace tls
