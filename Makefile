# semdex build.  `make` builds libsemdex.a and the `semdex` program at the
# repository root; `make test` builds and runs the whole test suite.
# Sanitizers: make SAN=address,undefined test

CC      ?= cc
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
SAN     ?=
WARN     = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wno-unused-parameter -Wvla
INC      = -Iinclude -Isrc/core -Isrc/tok -Isrc/kern -Isrc/model
LIBS     = -lutf8proc -lpcre2-8 -lsqlite3 -lm -lpthread
ifneq ($(SAN),)
CFLAGS  += -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SAN)
endif
ALL_CFLAGS = $(WARN) $(INC) $(CFLAGS) -MMD -MP

BUILD   ?= build$(if $(SAN),-san)
LIB_SRC  = $(wildcard src/*/*.c)
CLI_SRC  = $(wildcard cli/*.c)
TEST_SRC = $(wildcard tests/*.c)
FUZZ_SRC = $(wildcard fuzz/*.c)
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  = $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ = $(TEST_SRC:%.c=$(BUILD)/%.o) $(FUZZ_SRC:%.c=$(BUILD)/replay/%.o)

all: semdex

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# fuzz harnesses compiled into the test runner to replay their corpora
$(BUILD)/replay/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DFUZZ_REPLAY -c $< -o $@

$(BUILD)/libsemdex.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

libsemdex.a: $(BUILD)/libsemdex.a
	cp $< $@

semdex: $(CLI_OBJ) $(BUILD)/libsemdex.a
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LIBS) -o $@

$(BUILD)/test_runner: $(TEST_OBJ) $(BUILD)/libsemdex.a
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LIBS) -o $@

# The test suite: unit tests, fixture (golden) tests, fuzz-corpus replay and
# command-line tests.  Ends with "N passed, N failed".
test: semdex $(BUILD)/test_runner
	@SEMDEX_BIN=./semdex $(BUILD)/test_runner

# Exported symbols must carry the semdex_ prefix (the public API) or the prefix
# internal sx_/tok_/json_/hnsw_/bm25_/analyze_/seg_/fuse_ namespaces (never exported in a shared build).
check-symbols: $(BUILD)/libsemdex.a
	@bad=$$(nm -g --defined-only $< | awk 'NF==3{print $$3}' | grep -Ev '^(semdex_|sx_|tok_|json_|hnsw_|bm25_|analyze_|analyzer_|seg_|fuse_|kern_|model_)' || true); \
	if [ -n "$$bad" ]; then echo "unprefixed symbols:"; echo "$$bad"; exit 1; else echo "symbols ok"; fi

# libFuzzer harnesses (clang); `make fuzz FUZZ_SECONDS=600` runs each.
FUZZ_SECONDS ?= 60
FUZZERS = $(patsubst fuzz/%.c,build-fuzz/%,$(filter-out fuzz/fuzz_common.c,$(wildcard fuzz/fuzz_*.c)))
build-fuzz/%: fuzz/%.c fuzz/fuzz_common.c $(LIB_SRC)
	@mkdir -p build-fuzz
	clang -std=c11 -D_GNU_SOURCE $(INC) -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined $< fuzz/fuzz_common.c $(LIB_SRC) $(LIBS) -o $@
fuzz-build: $(FUZZERS)
fuzz: fuzz-build
	@for f in $(FUZZERS); do n=$$(basename $$f); mkdir -p build-fuzz/corpus-$$n; \
	  echo "== $$n ($(FUZZ_SECONDS)s)"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 build-fuzz/corpus-$$n fuzz/corpus/$$n || exit 1; done

# The main job on the bundled examples: tokenize example texts with the bundled
# all-MiniLM-L6-v2 tokenizer, index examples/docs in a store (keyword index:
# no model weights are bundled) and search it in English and Chinese.
EXAMPLE_DB ?= build/example.db
example: semdex
	./semdex tokenize -m examples/models/all-MiniLM-L6-v2 < examples/texts.jsonl
	@rm -f $(EXAMPLE_DB) $(EXAMPLE_DB)-wal $(EXAMPLE_DB)-shm
	./semdex add -d $(EXAMPLE_DB) examples/docs/*
	./semdex search -d $(EXAMPLE_DB) -k 3 "why retrieve passages before answering"
	./semdex search -d $(EXAMPLE_DB) -k 3 "中文分词 关键词检索"
	./semdex doctor -d $(EXAMPLE_DB)

bench-tok: libsemdex.a
	bash bench/tok/run.sh

# SGEMM ceiling: FMA peak, our packed kernel and OpenBLAS (if installed), 1 and 2 threads.
bench-kern: libsemdex.a
	@mkdir -p bench/out
	$(CC) $(WARN) $(INC) $(CFLAGS) bench/kern/sgemm.c libsemdex.a $(LIBS) -ldl -o bench/out/bench_sgemm
	bench/out/bench_sgemm

# Keyword search: semdex BM25 vs SQLite FTS5 (unicode61, trigram) on XQuAD en/zh (bench/keyword/README.md)
bench-keyword: semdex libsemdex.a
	bash bench/keyword/run.sh

# Encoder: semdex vs ONNX Runtime and PyTorch on the all-MiniLM-L6-v2 shape (bench/README.md)
bench-encoder: libsemdex.a
	bash bench/encoder/run.sh

# ANN: semdex HNSW vs hnswlib and FAISS (BENCH_ANN_1M=1 adds 1M vectors)
bench-ann: semdex
	bash bench/ann/run.sh

clean:
	rm -rf build build-san build-fuzz semdex libsemdex.a

.PHONY: all test example clean check-symbols fuzz fuzz-build bench-tok bench-kern bench-keyword bench-encoder bench-ann libsemdex.a
-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d)
