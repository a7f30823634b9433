// TLS pieces of the invoker tests: certificates made at test time with OpenSSL (a CA, and
// server certificates it or nobody signs, for the names a test asks), the CA as a PEM file for
// InvokerOptions::tls_ca_file, and a small HTTPS/1.1 server on 127.0.0.1 (one thread per
// connection, keep-alive) that counts connections, handshakes and requests and records the SNI
// each handshake carried. No network beyond the loopback interface.
#pragma once

#include "invoker_test_server.hpp"  // Received, Reply, TestServer

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace stepd::engine::testing_tls {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::ip::tcp;
using testing_server::Received;
using testing_server::Reply;

// A certificate and its private key, PEM.
struct Credentials {
  std::string cert_pem;
  std::string key_pem;
};

// An issuer of test certificates: its own self-signed CA (EC P-256, SHA-256, valid from an hour
// ago for a day).
class TestCa {
 public:
  explicit TestCa(const std::string& common_name = "Stepd Test CA") {
    key_.reset(EVP_EC_gen("P-256"));
    if (!key_) throw std::runtime_error("EVP_EC_gen failed");
    cert_.reset(make_cert(common_name, key_.get(), nullptr, nullptr, /*ca=*/true, {}));
  }

  std::string cert_pem() const { return pem_of(cert_.get()); }

  // A server certificate for `names` (each "DNS:..." or "IP:..."), signed by this CA.
  Credentials issue(const std::string& common_name, const std::vector<std::string>& names) const {
    Key key(EVP_EC_gen("P-256"));
    Cert cert(make_cert(common_name, key.get(), cert_.get(), key_.get(), false, names));
    return {pem_of(cert.get()), pem_of_key(key.get())};
  }

  // A server certificate for `names` that signs itself (no CA vouches for it).
  static Credentials self_signed(const std::string& common_name,
                                 const std::vector<std::string>& names) {
    Key key(EVP_EC_gen("P-256"));
    Cert cert(make_cert(common_name, key.get(), nullptr, nullptr, false, names));
    return {pem_of(cert.get()), pem_of_key(key.get())};
  }

 private:
  struct KeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
  };
  struct CertFree {
    void operator()(X509* c) const { X509_free(c); }
  };
  using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
  using Cert = std::unique_ptr<X509, CertFree>;

  static void add_ext(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
    if (ext == nullptr) throw std::runtime_error("bad certificate extension " + value);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }

  // The certificate of `key` named `common_name`, signed by `issuer`/`issuer_key` (itself when
  // null).
  static X509* make_cert(const std::string& common_name, EVP_PKEY* key, X509* issuer,
                         EVP_PKEY* issuer_key, bool ca, const std::vector<std::string>& names) {
    static std::atomic<long> serial{1};
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* subject = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                               0);
    X509_set_issuer_name(cert, issuer != nullptr ? X509_get_subject_name(issuer) : subject);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : cert, cert, nullptr, nullptr, 0);
    add_ext(cert, &ctx, NID_subject_key_identifier, "hash");
    if (ca) {
      add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:TRUE");
      add_ext(cert, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
      add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE");
      add_ext(cert, &ctx, NID_key_usage, "critical,digitalSignature");
      add_ext(cert, &ctx, NID_ext_key_usage, "serverAuth");
      if (issuer != nullptr) add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always");
      std::string san;
      for (const auto& n : names) san += (san.empty() ? "" : ",") + n;
      if (!san.empty()) add_ext(cert, &ctx, NID_subject_alt_name, san);
    }
    if (X509_sign(cert, issuer_key != nullptr ? issuer_key : key, EVP_sha256()) == 0) {
      X509_free(cert);
      throw std::runtime_error("X509_sign failed");
    }
    return cert;
  }

  template <class Write>
  static std::string pem(Write write) {
    BIO* bio = BIO_new(BIO_s_mem());
    write(bio);
    char* data = nullptr;
    long size = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(size));
    BIO_free(bio);
    return out;
  }
  static std::string pem_of(X509* cert) {
    return pem([&](BIO* bio) { PEM_write_bio_X509(bio, cert); });
  }
  static std::string pem_of_key(EVP_PKEY* key) {
    return pem([&](BIO* bio) {
      PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    });
  }

  Key key_;
  Cert cert_;
};

// A file holding `text`, removed with this object.
class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    static std::atomic<int> counter{0};
    path_ = ::testing::TempDir() + "stepd-tls-" + std::to_string(::getpid()) + "-" +
            std::to_string(counter++) + ".pem";
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// An HTTPS/1.1 server on 127.0.0.1 presenting `credentials`: a TestServer whose connections
// first complete a TLS handshake (counted, SNI recorded) and then carry its requests.
class TlsTestServer {
 public:
  using Handler = testing_server::TestServer::Handler;

  TlsTestServer(const Credentials& credentials, Handler handler)
      : tls_(make_context(credentials)),
        server_(std::move(handler),
                [this](testing_server::TestServer& server, tcp::socket& socket, int id) {
                  serve(server, socket, id);
                }) {}

  // "https://HOST:PORT/path" (HOST: "localhost" or "127.0.0.1", both this server).
  std::string url(const std::string& host, const std::string& path) const {
    return "https://" + host + ":" + std::to_string(server_.port()) + path;
  }
  unsigned short port() const { return server_.port(); }

  int accepts() const { return server_.accepts(); }
  int handshakes() const { return handshakes_.load(); }
  int requests() const { return server_.requests(); }
  std::vector<Received> received() { return server_.received(); }
  // The SNI host name of each completed handshake, in order ("" when the client sent none).
  std::vector<std::string> server_names() {
    std::lock_guard lock(mu_);
    return server_names_;
  }

 private:
  static ssl::context make_context(const Credentials& credentials) {
    ssl::context tls(ssl::context::tls_server);
    tls.use_certificate_chain(asio::buffer(credentials.cert_pem));
    tls.use_private_key(asio::buffer(credentials.key_pem), ssl::context::pem);
    return tls;
  }

  // Returns without a TLS close_notify: the TestServer then closes the TCP connection (as a
  // server that drops idle connections may).
  void serve(testing_server::TestServer& server, tcp::socket& socket, int id) {
    ssl::stream<tcp::socket&> stream(socket, tls_);
    boost::system::error_code ec;
    stream.handshake(ssl::stream_base::server, ec);
    if (ec) return;
    ++handshakes_;
    const char* sni = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name);
    {
      std::lock_guard lock(mu_);
      server_names_.emplace_back(sni != nullptr ? sni : "");
    }
    server.serve_requests(stream, id);
  }

  ssl::context tls_;
  std::mutex mu_;
  std::vector<std::string> server_names_;
  std::atomic<int> handshakes_{0};
  testing_server::TestServer server_;  // last: stops (joining its threads) before the rest goes
};

}  // namespace stepd::engine::testing_tls
