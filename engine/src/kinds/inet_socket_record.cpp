// The image side of an AF_INET/AF_INET6 socket: its InetSocket record (family,
// type and protocol restore can create, addresses of that family, only listed
// options) and its name in `flakelab show` ("udp 127.0.0.1:8880 -> 127.0.0.1:8881").
#include <netinet/in.h>
#include <sys/socket.h>

#include <set>

#include "file_record.h"
#include "inet_sockaddr.h"
#include "inet_socket_options.h"

namespace flakelab::engine {
namespace {

const char* protocol_name(uint32_t protocol) {
  switch (protocol) {
    case IPPROTO_UDP: return "udp";
    case IPPROTO_UDPLITE: return "udplite";
    case IPPROTO_TCP: return "tcp";
    case IPPROTO_ICMP: return "icmp";
    case IPPROTO_ICMPV6: return "icmpv6";
    default: return nullptr;
  }
}

std::string kind_text(const pb::InetSocket& s) {
  const char* proto = protocol_name(s.protocol());
  std::string p = proto ? proto : "protocol " + std::to_string(s.protocol());
  if (s.type() == SOCK_RAW) return (s.family() == AF_INET6 ? "raw6 " : "raw ") + p;
  return p + (s.family() == AF_INET6 && s.protocol() != IPPROTO_ICMPV6 ? "6" : "");
}

void validate(const pb::File& f, const RecordCheck& check) {
  if (!f.has_inet_socket()) check.fail("inet_socket", "missing");
  const pb::InetSocket& s = f.inet_socket();
  if (s.family() != AF_INET && s.family() != AF_INET6)
    check.fail("inet_socket.family", std::to_string(s.family()) + " is not AF_INET or AF_INET6");
  bool datagram = s.protocol() == IPPROTO_UDP || s.protocol() == IPPROTO_UDPLITE ||
                  (s.family() == AF_INET && s.protocol() == IPPROTO_ICMP) ||
                  (s.family() == AF_INET6 && s.protocol() == IPPROTO_ICMPV6);
  bool raw = s.type() == SOCK_RAW && s.protocol() < IPPROTO_MAX;
  if (!(s.type() == SOCK_DGRAM && datagram) && !(s.type() == SOCK_STREAM && s.protocol() == IPPROTO_TCP) && !raw)
    check.fail("inet_socket.protocol", "type " + std::to_string(s.type()) + " protocol " + std::to_string(s.protocol()) +
                                           " is not a UDP, UDP-Lite, ICMP, raw or TCP socket of this family");
  if (!s.local().empty())
    if (std::string why = inet_sockaddr_problem(s.family(), s.local()); !why.empty()) check.fail("inet_socket.local", why);
  if (!s.peer().empty()) {
    if (std::string why = inet_sockaddr_problem(s.family(), s.peer()); !why.empty()) check.fail("inet_socket.peer", why);
    if (s.type() == SOCK_STREAM) check.fail("inet_socket.peer", "only datagram and raw sockets are restored connected");
  }
  if (s.listening() && s.type() != SOCK_STREAM) check.fail("inet_socket.listening", "only TCP sockets listen");
  if (s.listening() && !s.peer().empty()) check.fail("inet_socket.listening", "a listener has no peer");
  if (!s.listening() && s.backlog() != 0) check.fail("inet_socket.backlog", "set on a socket that does not listen");
  if (s.backlog() > 65535) check.fail("inet_socket.backlog", std::to_string(s.backlog()) + " is above 65535");
  if (s.shutdown() & ~3u) check.fail("inet_socket.shutdown", std::to_string(s.shutdown()) + " is not a shutdown mask");
  // BPF_MAXINSNS instructions of 8 bytes (struct sock_filter).
  if (s.filter().size() % 8 != 0 || s.filter().size() > 4096 * 8)
    check.fail("inet_socket.filter", std::to_string(s.filter().size()) + " bytes are not 1-4096 BPF instructions");
  check.count("inet_socket.options", s.options_size(), 128);
  std::set<std::pair<uint32_t, uint32_t>> seen;
  for (int i = 0; i < s.options_size(); ++i) {
    const pb::SockOpt& o = s.options(i);
    const std::string field = "inet_socket.options[" + std::to_string(i) + "]";
    const SockOptSpec* spec = find_inet_socket_option(o.level(), o.name());
    if (!spec)
      check.fail(field, "level " + std::to_string(o.level()) + " option " + std::to_string(o.name()) +
                            " is not an option restore sets");
    if (spec->datagram_only && s.type() == SOCK_STREAM)
      check.fail(field, std::string(spec->label) + " is kept for datagram sockets only");
    if (o.value().empty() || o.value().size() > spec->max_size)
      check.fail(field + ".value", std::to_string(o.value().size()) + " bytes for " + spec->label);
    if (!seen.insert({o.level(), o.name()}).second) check.fail(field, std::string(spec->label) + " appears twice");
  }
}

std::string show(const pb::File& f) {
  const pb::InetSocket& s = f.inet_socket();
  std::string text = kind_text(s) + " socket";
  if (!s.local().empty()) text += " " + inet_sockaddr_text(s.local());
  if (!s.peer().empty()) text += " -> " + inet_sockaddr_text(s.peer());
  if (s.listening()) text += " listening (backlog " + std::to_string(s.backlog()) + ")";
  if (s.shutdown()) text += " shutdown " + std::to_string(s.shutdown());
  if (s.options_size()) text += ", " + std::to_string(s.options_size()) + " options";
  if (!s.filter().empty()) text += ", filter of " + std::to_string(s.filter().size() / 8) + " instructions";
  return text;
}

}  // namespace

const FileRecord* inet_socket_record() {
  static const FileRecord record{validate, show};
  return &record;
}

}  // namespace flakelab::engine
