// Image rules for unix sockets: validation of every field and reference, `show`.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <functional>
#include <string>

#include "flakelab/engine/error.h"
#include "flakelab/engine/image.h"
#include "flakelab/engine/show.h"
#include "image_fixture.h"
#include "unix_image.h"

using namespace flakelab::engine;
using flakelab::engine::testing::make_valid_image;

namespace {

// make_valid_image() plus: a named stream listener (fd 10) with one pending
// connection whose client is fd 11; a datagram socketpair (fds 12, 13), one end
// bound to an abstract name with an embedded NUL, holding a datagram that
// carries the listener and a socket only in flight (#5, unnamed dgram).
Image make_socket_image() {
  Image img = make_valid_image();
  pb::Process& p = img.root().process;
  auto add = [&](uint32_t id, uint32_t type, uint32_t state, int fd) {
    auto* s = p.add_unix_sockets();
    s->set_id(id);
    s->set_inode(1000 + id);
    s->set_type(type);
    s->set_state(state);
    s->set_peek_off(-1);
    if (fd != 0) {
      auto* f = p.add_files();
      f->set_kind(pb::FILE_UNIX_SOCKET);
      f->set_flags(O_RDWR);
      f->set_inode(1000 + id);
      f->set_unix_socket(id);
      if (fd > 0) {
        auto* d = p.add_fds();
        d->set_fd(static_cast<uint32_t>(fd));
        d->set_file(static_cast<uint32_t>(p.files_size() - 1));
      }
    }
    return s;
  };
  auto* l = add(1, SOCK_STREAM, 10, 10);
  l->set_name("/tmp/flk-listen");
  l->set_owns_name(true);
  l->set_backlog(5);
  l->add_pending(3);
  auto* c = add(2, SOCK_STREAM, 1, 11);
  c->set_peer(3);
  auto* e = add(3, SOCK_STREAM, 1, 0);
  e->set_listener(1);
  e->set_peer(2);
  e->set_name("/tmp/flk-listen");
  e->add_queue()->set_data("hello");
  auto* a = add(4, SOCK_DGRAM, 1, 12);
  a->set_name(std::string("\0a\0b", 4));
  a->set_owns_name(true);
  a->set_peer(6);
  auto* only = add(5, SOCK_DGRAM, 7, -1);
  (void)only;
  auto* b = add(6, SOCK_DGRAM, 1, 13);
  b->set_peer(4);
  auto* m = a->add_queue();
  m->set_data("x");
  m->add_fds(static_cast<uint32_t>(p.files_size() - 4));  // the listener's file
  m->add_fds(static_cast<uint32_t>(p.files_size() - 2));  // socket #5's file
  return img;
}

pb::UnixSocket* sock(Image& img, uint32_t id) {
  for (auto& s : *img.root().process.mutable_unix_sockets())
    if (s.id() == id) return &s;
  return nullptr;
}

void expect_invalid(const std::function<void(Image&)>& damage, const std::string& field) {
  Image img = make_socket_image();
  damage(img);
  try {
    validate_image(img);
    ADD_FAILURE() << "accepted; expected a complaint about " << field;
  } catch (const ImageError& e) {
    EXPECT_EQ(e.field(), field) << e.what();
  }
}

}  // namespace

TEST(UnixImage, ValidImageRoundTripsAndShows) {
  Image img = make_socket_image();
  EXPECT_NO_THROW(validate_image(img));
  auto bytes = encode_process_file(img.root().process);
  auto pages = encode_pages_file(std::span<const uint8_t>(img.root().pages.data(), img.root().pages.size()));
  Image back = decode_image(bytes, pages);
  EXPECT_EQ(back.root().process.unix_sockets_size(), 6);
  std::string text = show_image_text(back);
  EXPECT_NE(text.find("unix sockets 6"), std::string::npos) << text;
  EXPECT_NE(text.find("name @a\\0b"), std::string::npos) << text;
  EXPECT_NE(text.find("(in flight only)"), std::string::npos) << text;
  EXPECT_NE(text.find("pending in #1"), std::string::npos) << text;
  EXPECT_NE(text.find("queued 1 bytes with files"), std::string::npos) << text;
  EXPECT_NE(show_image_json(back).find("\"unix_sockets\""), std::string::npos);
}

TEST(UnixImage, CorruptionsAreNamed) {
  expect_invalid([](Image& i) { sock(i, 2)->set_id(0); }, "unix_sockets[1].id");
  expect_invalid([](Image& i) { sock(i, 2)->set_id(1); }, "unix_sockets[1].id");
  expect_invalid([](Image& i) { sock(i, 2)->set_type(3); }, "unix_sockets[1].type");
  expect_invalid([](Image& i) { sock(i, 2)->set_state(2); }, "unix_sockets[1].state");
  expect_invalid([](Image& i) { sock(i, 4)->set_state(10); }, "unix_sockets[3].state");
  expect_invalid([](Image& i) { sock(i, 4)->set_name(std::string(109, '\0')); }, "unix_sockets[3].name");
  expect_invalid([](Image& i) { sock(i, 1)->set_name("relative"); }, "unix_sockets[0].name");
  expect_invalid([](Image& i) { sock(i, 1)->set_name(std::string("/a\0b", 4)); }, "unix_sockets[0].name");
  expect_invalid([](Image& i) { sock(i, 1)->set_owns_name(false); }, "unix_sockets[0].name");
  expect_invalid([](Image& i) { sock(i, 6)->set_owns_name(true); }, "unix_sockets[5].owns_name");
  expect_invalid([](Image& i) { sock(i, 4)->set_path_unlinked(true); }, "unix_sockets[3].path_unlinked");
  expect_invalid([](Image& i) { sock(i, 2)->set_shutdown(4); }, "unix_sockets[1].shutdown");
  expect_invalid([](Image& i) { sock(i, 1)->set_backlog(1u << 30); }, "unix_sockets[0].backlog");
  expect_invalid([](Image& i) { sock(i, 2)->set_sndbuf(0x80000000u); }, "unix_sockets[1].sndbuf");
  expect_invalid([](Image& i) { sock(i, 2)->set_peek_off(-2); }, "unix_sockets[1].peek_off");
  expect_invalid([](Image& i) { sock(i, 6)->set_peer(99); }, "unix_sockets[3].peer");
  expect_invalid([](Image& i) { sock(i, 2)->set_peer(1); }, "unix_sockets[1].peer");
  expect_invalid([](Image& i) { sock(i, 6)->set_peer(5); }, "unix_sockets[3].peer");
  expect_invalid([](Image& i) { sock(i, 6)->set_external_peer("@x"); }, "unix_sockets[5].external_peer");
  expect_invalid([](Image& i) { sock(i, 3)->set_listener(2); }, "unix_sockets[0].pending");
  expect_invalid([](Image& i) { sock(i, 3)->set_listener(0); }, "unix_sockets[0].pending");
  expect_invalid(
      [](Image& i) {
        sock(i, 3)->set_listener(99);
        sock(i, 1)->clear_pending();
      },
      "unix_sockets[2].listener");
  expect_invalid([](Image& i) { sock(i, 1)->add_pending(3); }, "unix_sockets[0].pending");
  expect_invalid([](Image& i) { sock(i, 1)->add_queue()->set_data("x"); }, "unix_sockets[0].queue");
  expect_invalid([](Image& i) { sock(i, 4)->mutable_queue(0)->add_fds(999); }, "unix_sockets[3].queue[0].fds");
  expect_invalid([](Image& i) { sock(i, 3)->mutable_queue(0)->set_sender("/x"); }, "unix_sockets[2].queue[0].sender");
  expect_invalid([](Image& i) { sock(i, 2)->add_queue(); }, "unix_sockets[1].queue[0].data");
  expect_invalid(
      [](Image& i) {
        auto* q = sock(i, 4)->mutable_queue(0);
        for (int k = 0; k < 300; ++k) q->add_fds(0);
      },
      "unix_sockets[3].queue[0].fds");
  expect_invalid([](Image& i) { sock(i, 4)->mutable_queue(0)->set_data(std::string((64 << 20) + 1, 'x')); },
                 "unix_sockets[3].queue[0].data");
  // Files that refer to sockets.
  Image ref = make_socket_image();
  int idx2 = -1;
  for (int k = 0; k < ref.root().process.files_size(); ++k)
    if (ref.root().process.files(k).unix_socket() == 2) idx2 = k;
  ASSERT_GE(idx2, 0);
  const std::string f2 = "files[" + std::to_string(idx2) + "].";
  expect_invalid([&](Image& i) { i.root().process.mutable_files(idx2)->set_unix_socket(77); }, f2 + "unix_socket");
  expect_invalid([&](Image& i) { i.root().process.mutable_files(idx2)->set_unix_socket(1); }, f2 + "unix_socket");
  expect_invalid([&](Image& i) { i.root().process.mutable_files(idx2)->set_path("/x"); }, f2 + "path");
  expect_invalid([&](Image& i) { i.root().process.mutable_files(idx2)->set_flags(O_RDONLY); }, f2 + "flags");
  expect_invalid([&](Image& i) { i.root().process.mutable_files(0)->set_unix_socket(1); }, "files[0].unix_socket");
}
