// Image records of AF_INET/AF_INET6 sockets (pb::InetSocket): round trip, every
// validation rule, and how show prints them.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/netlink.h>
#include <sys/socket.h>

#include <cstring>
#include <functional>
#include <string>

#include "flakelab/engine/error.h"
#include "flakelab/engine/image.h"
#include "flakelab/engine/show.h"
#include "image_fixture.h"

using namespace flakelab::engine;

namespace {

std::string v4(const char* host, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, host, &a.sin_addr);
  return std::string(reinterpret_cast<const char*>(&a), sizeof(a));
}
std::string v6(const char* host, uint16_t port) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  inet_pton(AF_INET6, host, &a.sin6_addr);
  return std::string(reinterpret_cast<const char*>(&a), sizeof(a));
}
std::string int_value(int v) { return std::string(reinterpret_cast<const char*>(&v), sizeof(v)); }

// The fixture's image plus: fd 4 a connected UDP socket with two options
// (files[3]), fd 5 a TCP6 listener (files[4]).
Image inet_image() {
  Image img = flakelab::engine::testing::make_valid_image();
  pb::Process& p = img.root().process;
  auto add_file = [&](uint32_t fd) {
    auto* f = p.add_files();
    f->set_kind(pb::FILE_INET_SOCKET);
    f->set_flags(O_RDWR);
    auto* d = p.add_fds();
    d->set_fd(fd);
    d->set_file(static_cast<uint32_t>(p.files_size() - 1));
    return f->mutable_inet_socket();
  };
  auto* udp = add_file(4);
  udp->set_family(AF_INET);
  udp->set_type(SOCK_DGRAM);
  udp->set_protocol(IPPROTO_UDP);
  udp->set_local(v4("127.0.0.1", 8881));
  udp->set_peer(v4("127.0.0.1", 8880));
  udp->set_shutdown(2);
  auto* o = udp->add_options();
  o->set_level(SOL_SOCKET);
  o->set_name(SO_REUSEADDR);
  o->set_value(int_value(1));
  o = udp->add_options();
  o->set_level(SOL_IP);
  o->set_name(IP_TTL);
  o->set_value(int_value(33));
  auto* tcp = add_file(5);
  tcp->set_family(AF_INET6);
  tcp->set_type(SOCK_STREAM);
  tcp->set_protocol(IPPROTO_TCP);
  tcp->set_local(v6("::1", 8080));
  tcp->set_listening(true);
  tcp->set_backlog(7);
  return img;
}

std::string error_of(const std::function<void(pb::Process&)>& mutate) {
  Image img = inet_image();
  mutate(img.root().process);
  try {
    decode_image(encode_process_file(img.root().process), encode_pages_file(img.root().pages));
  } catch (const ImageError& e) {
    return e.what();
  }
  ADD_FAILURE() << "decoding succeeded";
  return "";
}

void expect_field(const std::function<void(pb::Process&)>& mutate, const std::string& field) {
  std::string msg = error_of(mutate);
  EXPECT_NE(msg.find("image process.img: " + field + ":"), std::string::npos) << msg;
}

pb::InetSocket* udp(pb::Process& p) { return p.mutable_files(3)->mutable_inet_socket(); }
pb::InetSocket* tcp(pb::Process& p) { return p.mutable_files(4)->mutable_inet_socket(); }

}  // namespace

TEST(InetImage, RoundTrips) {
  Image img = inet_image();
  Image back = decode_image(encode_process_file(img.root().process), encode_pages_file(img.root().pages));
  EXPECT_EQ(back.root().process.SerializeAsString(), img.root().process.SerializeAsString());
  EXPECT_EQ(back.root().process.files(4).inet_socket().backlog(), 7u);
}

TEST(InetImage, BadRecords) {
  expect_field([](pb::Process& p) { p.mutable_files(3)->clear_inet_socket(); }, "files[3].inet_socket");
  expect_field([](pb::Process& p) { udp(p)->set_family(AF_UNIX); }, "files[3].inet_socket.family");
  expect_field([](pb::Process& p) { udp(p)->set_protocol(IPPROTO_TCP); }, "files[3].inet_socket.protocol");
  expect_field([](pb::Process& p) { udp(p)->set_type(SOCK_SEQPACKET); }, "files[3].inet_socket.protocol");
  expect_field(
      [](pb::Process& p) {
        udp(p)->set_type(SOCK_RAW);
        udp(p)->set_protocol(IPPROTO_MAX);
      },
      "files[3].inet_socket.protocol");
  expect_field([](pb::Process& p) { udp(p)->set_protocol(IPPROTO_ICMPV6); }, "files[3].inet_socket.protocol");
  expect_field([](pb::Process& p) { udp(p)->set_local(v6("::1", 1)); }, "files[3].inet_socket.local");
  expect_field([](pb::Process& p) { udp(p)->set_peer("short"); }, "files[3].inet_socket.peer");
  expect_field([](pb::Process& p) { udp(p)->set_shutdown(4); }, "files[3].inet_socket.shutdown");
  expect_field([](pb::Process& p) { udp(p)->set_listening(true); }, "files[3].inet_socket.listening");
  expect_field([](pb::Process& p) { udp(p)->set_backlog(3); }, "files[3].inet_socket.backlog");
  expect_field([](pb::Process& p) { udp(p)->mutable_options(0)->set_name(SO_PEERCRED); }, "files[3].inet_socket.options[0]");
  expect_field([](pb::Process& p) { udp(p)->mutable_options(1)->set_value(std::string(5, 'x')); },
               "files[3].inet_socket.options[1].value");
  expect_field([](pb::Process& p) { udp(p)->mutable_options(1)->clear_value(); }, "files[3].inet_socket.options[1].value");
  expect_field([](pb::Process& p) { *udp(p)->add_options() = udp(p)->options(0); }, "files[3].inet_socket.options[2]");
  expect_field([](pb::Process& p) { udp(p)->set_filter(std::string(12, '\0')); }, "files[3].inet_socket.filter");
  expect_field([](pb::Process& p) { udp(p)->set_filter(std::string(4097 * 8, '\0')); }, "files[3].inet_socket.filter");
  expect_field([](pb::Process& p) { tcp(p)->set_peer(v6("::1", 2)); }, "files[4].inet_socket.peer");
  expect_field([](pb::Process& p) { tcp(p)->set_backlog(70000); }, "files[4].inet_socket.backlog");
  expect_field(
      [](pb::Process& p) {
        auto* o = tcp(p)->add_options();
        o->set_level(SOL_IP);
        o->set_name(IP_MULTICAST_TTL);
        o->set_value(int_value(64));
      },
      "files[4].inet_socket.options[0]");
  expect_field([](pb::Process& p) { p.mutable_files(4)->set_flags(O_WRONLY); }, "files[4].flags");
  expect_field([](pb::Process& p) { p.mutable_files(4)->set_path("/tmp/x"); }, "files[4].path");
}

TEST(InetImage, NetlinkRecords) {
  auto with_netlink = [](const std::function<void(pb::NetlinkSocket&)>& mutate) {
    Image img = inet_image();
    pb::Process& p = img.root().process;
    auto* f = p.add_files();
    f->set_kind(pb::FILE_NETLINK_SOCKET);
    f->set_flags(O_RDWR);
    auto* d = p.add_fds();
    d->set_fd(6);
    d->set_file(static_cast<uint32_t>(p.files_size() - 1));
    auto* n = f->mutable_netlink_socket();
    n->set_type(SOCK_RAW);
    n->set_protocol(NETLINK_ROUTE);
    n->set_port_id(1234);
    n->add_groups(1u << 26);
    n->add_groups(1);
    mutate(*n);
    return img;
  };
  Image good = with_netlink([](pb::NetlinkSocket&) {});
  EXPECT_NO_THROW(decode_image(encode_process_file(good.root().process), encode_pages_file(good.root().pages)));
  EXPECT_NE(show_image_text(good).find("6 -> file 5 netlink protocol 0 port 1234 in 2 groups"), std::string::npos)
      << show_image_text(good);
  auto field_of = [&](const std::function<void(pb::NetlinkSocket&)>& mutate) {
    Image img = with_netlink(mutate);
    try {
      decode_image(encode_process_file(img.root().process), encode_pages_file(img.root().pages));
    } catch (const ImageError& e) {
      return std::string(e.what());
    }
    return std::string("decoding succeeded");
  };
  EXPECT_NE(field_of([](pb::NetlinkSocket& n) { n.set_type(SOCK_STREAM); }).find("files[5].netlink_socket.type:"),
            std::string::npos);
  EXPECT_NE(field_of([](pb::NetlinkSocket& n) { n.set_protocol(MAX_LINKS); }).find("files[5].netlink_socket.protocol:"),
            std::string::npos);
  EXPECT_NE(field_of([](pb::NetlinkSocket& n) {
              for (int i = 0; i < 40; ++i) n.add_groups(1);
            }).find("files[5].netlink_socket.groups:"),
            std::string::npos);
  EXPECT_NE(field_of([](pb::NetlinkSocket& n) {
              auto* o = n.add_options();
              o->set_level(SOL_IP);
              o->set_name(IP_TTL);
              o->set_value(int_value(3));
            }).find("files[5].netlink_socket.options[0]:"),
            std::string::npos);
}

TEST(InetImage, ShowPrintsTheirState) {
  std::string text = show_image_text(inet_image());
  for (const char* want : {"4 -> file 3 udp socket 127.0.0.1:8881 -> 127.0.0.1:8880 shutdown 2, 2 options",
                           "5 -> file 4 tcp6 socket [::1]:8080 listening (backlog 7)"})
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  std::string json = show_image_json(inet_image());
  for (const char* want : {"\"kind\": \"FILE_INET_SOCKET\"", "\"listening\": true", "\"backlog\": 7"})
    EXPECT_NE(json.find(want), std::string::npos) << want << "\n" << json;
}
