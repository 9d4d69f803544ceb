// Fuzz target: the mutation log's records (core/store/mutation.hpp).
//
// Input: the JSON text of one record, as read back from a journal or a
// snapshot.
//
// Checks:
//  1. decode never crashes, and refuses with a reason that names the op or
//     says why the text is not a record.
//  2. A record that decodes encodes to text that decodes to the same record:
//     encoding it again gives the same text (a fixpoint), and its op name is
//     the one the text carried.
#include <string>

#include "core/store/mutation.hpp"
#include "fuzz_util.hpp"

using namespace webhook;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text = fuzz::as_view(data, size);
    std::string error;
    std::optional<store::Mutation> m = store::decode(text, &error);
    if (!m) {
        FUZZ_CHECK(!error.empty(), "refused without a reason");
        return 0;
    }
    std::string once = store::encode(*m);
    std::string again_error;
    std::optional<store::Mutation> back = store::decode(once, &again_error);
    FUZZ_CHECK(back.has_value(), "an encoded record does not decode: %s", again_error.c_str());
    FUZZ_CHECK(store::op_name(*back) == store::op_name(*m), "the op changed");
    std::string twice = store::encode(*back);
    FUZZ_CHECK(once == twice, "encoding is not a fixpoint:\n  %s\n  %s", once.c_str(), twice.c_str());
    return 0;
}
