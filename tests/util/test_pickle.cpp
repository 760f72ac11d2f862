#include "../test_util.h"
#include "dcacn/util/pickle.h"

namespace dcacn {
namespace {

class PickleTest : public test::TempDirTest {};

TEST_F(PickleTest, RoundTripsADictAndNamesTheFileWhenDamaged) {
  c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
  dict.insert("x", torch::arange(5));
  dict.insert("name", std::string("value"));
  write_pickle(path("d.pt"), dict);
  const torch::IValue back = read_pickle(path("d.pt"), "test file");
  ASSERT_TRUE(back.isGenericDict());
  EXPECT_TRUE(back.toGenericDict().at("x").toTensor().equal(torch::arange(5)));
  EXPECT_EQ(back.toGenericDict().at("name").toStringRef(), "value");
  test::write_text(path("bad.pt"), "twelve bytes");
  test::expect_error_containing([&] { read_pickle(path("bad.pt"), "the file " + path("bad.pt")); },
                                {"the file", "bad.pt", "(12 bytes)"});
}

}  // namespace
}  // namespace dcacn
