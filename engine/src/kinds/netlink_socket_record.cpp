// The image side of an AF_NETLINK socket: its NetlinkSocket record (a type and
// protocol restore can create, a bounded group list, only listed options) and its
// name in `flakelab show` ("netlink protocol 0 port 1234 groups 1").
#include <linux/netlink.h>
#include <sys/socket.h>

#include <set>

#include "file_record.h"
#include "netlink_socket_options.h"

namespace flakelab::engine {
namespace {

constexpr int kMaxGroupWords = 32;  // 1024 groups; the kernel's families use far fewer

void validate(const pb::File& f, const RecordCheck& check) {
  if (!f.has_netlink_socket()) check.fail("netlink_socket", "missing");
  const pb::NetlinkSocket& s = f.netlink_socket();
  if (s.type() != SOCK_RAW && s.type() != SOCK_DGRAM)
    check.fail("netlink_socket.type", std::to_string(s.type()) + " is not SOCK_RAW or SOCK_DGRAM");
  if (s.protocol() >= MAX_LINKS) check.fail("netlink_socket.protocol", std::to_string(s.protocol()) + " is not a netlink family");
  check.count("netlink_socket.groups", s.groups_size(), kMaxGroupWords);
  check.count("netlink_socket.options", s.options_size(), 32);
  std::set<std::pair<uint32_t, uint32_t>> seen;
  for (int i = 0; i < s.options_size(); ++i) {
    const pb::SockOpt& o = s.options(i);
    const std::string field = "netlink_socket.options[" + std::to_string(i) + "]";
    const SockOptSpec* spec = find_netlink_socket_option(o.level(), o.name());
    if (!spec)
      check.fail(field, "level " + std::to_string(o.level()) + " option " + std::to_string(o.name()) +
                            " is not an option restore sets");
    if (o.value().size() != spec->max_size) check.fail(field + ".value", std::to_string(o.value().size()) + " bytes for " + spec->label);
    if (!seen.insert({o.level(), o.name()}).second) check.fail(field, std::string(spec->label) + " appears twice");
  }
}

std::string show(const pb::File& f) {
  const pb::NetlinkSocket& s = f.netlink_socket();
  std::string text = record_text("netlink protocol %u port %u", s.protocol(), s.port_id());
  int groups = 0;
  for (uint32_t word : s.groups()) groups += __builtin_popcount(word);
  if (groups) text += record_text(" in %d groups", groups);
  if (s.dst_port_id() || s.dst_group()) text += record_text(" -> port %u group %u", s.dst_port_id(), s.dst_group());
  return text;
}

}  // namespace

const FileRecord* netlink_socket_record() {
  static const FileRecord record{validate, show};
  return &record;
}

}  // namespace flakelab::engine
