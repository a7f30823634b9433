#include "engine/ids.hpp"

#include <openssl/rand.h>

#include <random>
#include <vector>

namespace stepd::engine {

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(bytes)) != 1) {
    std::random_device rd;
    for (auto& b : buf) b = static_cast<unsigned char>(rd());
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char b : buf) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::string uuid_from_hex(std::string_view h) {
  std::string out;
  out.reserve(36);
  out.append(h.substr(0, 8)).append("-").append(h.substr(8, 4)).append("-");
  out.append(h.substr(12, 4)).append("-").append(h.substr(16, 4)).append("-");
  out.append(h.substr(20, 12));
  return out;
}

std::string random_uuid() {
  std::string h = random_hex(16);
  h[12] = '4';                       // version 4
  h[16] = "89ab"[h[16] % 4];         // variant 10xx
  return uuid_from_hex(h);
}

}  // namespace stepd::engine
