// CTR-DRBG wrapper (mbedTLS), RAII over the entropy and DRBG contexts.
#include "tls/random.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>

namespace tls {

struct Random::State {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  State() {
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
  }
  ~State() {
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
  }
};

Random::Random() : state_(std::make_unique<State>()) {}
Random::~Random() = default;

protocol::Result<std::unique_ptr<Random>, protocol::Error> Random::create() {
  std::unique_ptr<Random> r(new Random());
  static constexpr unsigned char kPersonal[] = "wisp-drbg";
  const int rc = mbedtls_ctr_drbg_seed(&r->state_->drbg, mbedtls_entropy_func, &r->state_->entropy,
                                       kPersonal, sizeof kPersonal - 1);
  if (rc != 0) return protocol::fail("random: cannot seed CTR-DRBG from the OS entropy source");
  return r;
}

protocol::Status Random::fill(std::span<std::uint8_t> out) {
  // mbedtls_ctr_drbg_random returns at most MBEDTLS_CTR_DRBG_MAX_REQUEST bytes per call.
  std::size_t done = 0;
  while (done < out.size()) {
    const std::size_t n = std::min<std::size_t>(out.size() - done, MBEDTLS_CTR_DRBG_MAX_REQUEST);
    if (mbedtls_ctr_drbg_random(&state_->drbg, out.data() + done, n) != 0) {
      return protocol::fail("random: CTR-DRBG failed");
    }
    done += n;
  }
  return protocol::ok();
}

int Random::mbed_rng(void* self, unsigned char* out, std::size_t len) noexcept {
  return static_cast<Random*>(self)->fill(std::span<std::uint8_t>(out, len)) ? 0 : -1;
}

Random* thread_random() {
  thread_local std::unique_ptr<Random> rng = [] {
    auto r = Random::create();
    return r ? std::move(r).value() : nullptr;
  }();
  return rng.get();
}

protocol::Result<std::vector<std::uint8_t>, protocol::Error> random_bytes(std::size_t n) {
  Random* rng = thread_random();
  if (rng == nullptr) return protocol::fail("random: cannot seed CTR-DRBG");
  std::vector<std::uint8_t> out(n);
  if (auto st = rng->fill(out); !st) return protocol::unexpected(st.error());
  return out;
}

}  // namespace tls
