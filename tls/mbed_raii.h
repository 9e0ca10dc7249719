// RAII owners for mbedTLS contexts. Private to tls/ (includes mbedTLS headers).
#pragma once

#include <mbedtls/bignum.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>

#include <string>

namespace tls::detail {

template <class T, void (*Init)(T*), void (*Free)(T*)>
struct Owned {
  T v;
  Owned() { Init(&v); }
  ~Owned() { Free(&v); }
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  T* get() noexcept { return &v; }
};

using PkCtx = Owned<mbedtls_pk_context, mbedtls_pk_init, mbedtls_pk_free>;
using Crt = Owned<mbedtls_x509_crt, mbedtls_x509_crt_init, mbedtls_x509_crt_free>;
using Crl = Owned<mbedtls_x509_crl, mbedtls_x509_crl_init, mbedtls_x509_crl_free>;
using MpiCtx = Owned<mbedtls_mpi, mbedtls_mpi_init, mbedtls_mpi_free>;

inline std::string mbed_error(int rc) {
  char buf[256];
  mbedtls_strerror(rc, buf, sizeof buf);
  return buf;
}

inline const unsigned char* uchars(const std::string& s) {
  return reinterpret_cast<const unsigned char*>(s.c_str());
}

}  // namespace tls::detail
