"""Train the byte-level BPE tokenizer that the default model uses, in Hugging Face tokenizer.json form.

    python3 model/train/tokenizer.py corpus.txt tokenizer.json --vocab 4096

Byte-level BPE (GPT-2's scheme) needs no unknown token: every byte sequence encodes. The
`tokenizers` library writes the format that @huggingface/transformers and the server read.
"""

import argparse

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

EOS = "<|endoftext|>"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("corpus")
    p.add_argument("out")
    p.add_argument("--vocab", type=int, default=4096)
    a = p.parse_args()

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=a.vocab,
        min_frequency=2,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train([a.corpus], trainer)
    tok.save(a.out)
    sample = "In the beginning, God created the heavens and the earth."
    ids = tok.encode(sample).ids
    assert tok.decode(ids) == sample, "tokenizer does not round-trip"
    print(f"vocab {tok.get_vocab_size()}, sample {len(sample)} chars -> {len(ids)} tokens")


if __name__ == "__main__":
    main()
