#include "server/rest/router.hpp"

#include <algorithm>
#include <cassert>

namespace stepd::server::rest {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/') return out;
  path.remove_prefix(1);
  while (true) {
    auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = hex_value(text[i + 1]);
      const int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::optional<std::vector<QueryParam>> parse_query(std::string_view query) {
  std::vector<QueryParam> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    auto name = percent_decode(pair.substr(0, eq), true);
    auto value = percent_decode(
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
    if (!name || !value) return std::nullopt;
    out.push_back(QueryParam{std::move(*name), std::move(*value)});
  }
  return out;
}

void Router::add(std::string method, std::string pattern, std::size_t id) {
  Route route;
  route.method = std::move(method);
  route.pattern = std::move(pattern);
  route.id = id;
  for (std::string_view raw : split_path(route.pattern)) {
    Segment s;
    if (!raw.empty() && raw.front() == '{') {
      auto close = raw.find('}');
      assert(close != std::string_view::npos);
      s.param = true;
      s.text = std::string(raw.substr(1, close - 1));
      s.suffix = std::string(raw.substr(close + 1));
      route.literal_chars += s.suffix.size();
    } else {
      s.text = std::string(raw);
      route.literal_chars += s.text.size();
    }
    route.segments.push_back(std::move(s));
  }
  routes_.push_back(std::move(route));
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  const std::vector<std::string_view> raw = split_path(path);
  Match out;
  const Route* best = nullptr;
  std::vector<std::string> allowed;
  for (const Route& route : routes_) {
    if (route.segments.size() != raw.size()) continue;
    bool ok = true;
    for (std::size_t i = 0; i < raw.size() && ok; ++i) {
      const Segment& s = route.segments[i];
      if (!s.param) {
        ok = raw[i] == s.text;
      } else {
        ok = raw[i].size() > s.suffix.size() &&
             raw[i].substr(raw[i].size() - s.suffix.size()) == s.suffix;
      }
    }
    if (!ok) continue;
    if (route.method != method) {
      allowed.push_back(route.method);
      continue;
    }
    if (best == nullptr || route.literal_chars > best->literal_chars) best = &route;
  }
  if (best == nullptr) {
    if (allowed.empty()) return out;
    std::sort(allowed.begin(), allowed.end());
    allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
    out.kind = Match::Kind::NoMethod;
    out.allowed = std::move(allowed);
    return out;
  }
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const Segment& s = best->segments[i];
    if (!s.param) continue;
    auto value = percent_decode(raw[i].substr(0, raw[i].size() - s.suffix.size()), false);
    if (!value) {
      out.kind = Match::Kind::BadEscape;
      return out;
    }
    out.params[s.text] = std::move(*value);
  }
  out.kind = Match::Kind::Found;
  out.id = best->id;
  return out;
}

std::vector<Router::Entry> Router::entries() const {
  std::vector<Entry> out;
  for (const Route& r : routes_) out.push_back(Entry{r.method, r.pattern});
  return out;
}

}  // namespace stepd::server::rest
