import random
import string

import pytest

from emoret.text import emotions, vader_fast

# The seed project's published annotations (issue 2).
SEED_VECTORS = [
    (
        "a young girl in a horror movie is haunted",
        dict(joy=1, fear=2, surprise=2, sadness=2, disgust=1, anger=1, anticipation=1, positive=1, negative=2),
    ),
    (
        "while other friends too try and hitting the basket another is eager to achieve his fourth "
        "successful basket in basketball",
        dict(joy=4, trust=3, surprise=1, anticipation=3, positive=4),
    ),
    ("people enjoy the performance of singer", dict(joy=1, trust=1, anticipation=1, positive=1)),
    ("a fearful animation scene", dict(fear=1, sadness=1, negative=1)),
    ("_ darkest blue_ no silhouettes are visible", dict(sadness=1, neutral=1)),
    ("a heart is shown", dict(neutral=1)),
]


@pytest.mark.parametrize("caption,expected", SEED_VECTORS)
def test_nrc_counts_match_the_seed_annotations(caption, expected):
    counts = emotions.nrc_counts(caption)
    assert set(counts) == set(emotions.NRC_KEYS)
    assert {k: v for k, v in counts.items() if v} == expected


def _reference_words(text):
    from nltk.tokenize import TreebankWordTokenizer
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    out = []
    for sentence in PunktSentenceTokenizer().tokenize(text):
        for token in TreebankWordTokenizer().tokenize(sentence):
            stripped = token.strip().strip(string.punctuation)
            if stripped:
                out.append(token if token.startswith("'") else stripped)
    return out


@pytest.mark.parametrize(
    "text",
    [
        "a man cannot stop dancing",
        "they gonna wanna gotta lemme gimme go",
        "Two dogs play 3 games",
        "she said \"hello!\" and left. then (quietly) came back?",
        "it's a dog's life, isn't it",
        "  leading and trailing  ",
        "",
        "'tis the season... more'n ever",
        "A Man CANNOT stop Dancing",
        "They Gonna Go to the Top of a MOUNTAIN",
        "Excited kids, at the TOP. Baby!",
    ],
)
def test_fast_word_path_equals_punkt_and_treebank(text):
    assert emotions.words(text) == _reference_words(text)


WORDS = ["happy", "Sad", "dog", "it", "mother-in-law", "well-known", "x2", "cannot", "gonna", "Gonna-be", "do", "more"]
SUFFIXES = ["'s", "'S", "n't", "N'T", "'ll", "'Ll", "'re", "'ve", "'d", "'m", "'", "'ye", "'n", ".", ",", "!", "?",
            ";", ":", "...", "!!", "-", "--", "\"", ")", "&", ",000", ".g.", "'s.", "'s,", "n't?"]
SEPARATORS = [" ", " ", " ", "  ", "", "\t", "\n", " (", ". "]


def test_the_simple_path_splits_as_treebank_does_on_generated_text():
    import random

    rng = random.Random(0)
    taken = 0
    for _ in range(8000):
        text = ""
        for _ in range(rng.randint(1, 8)):
            text += rng.choice(WORDS) + (rng.choice(SUFFIXES) if rng.random() < 0.4 else "") + rng.choice(SEPARATORS)
        simple = emotions.simple_words(text)
        if simple is not None:
            taken += 1
            assert simple == _reference_words(text), text
    assert taken > 500  # the generator does reach the simple path often


@pytest.mark.parametrize("query", ["my daughter's birthday party", "a dog, running!", "kids laughing? yes",
                                   "a well-known singer isn't happy", "Happy kids at a party."])
def test_common_punctuated_queries_need_no_nltk(query):
    assert emotions.simple_words(query) == _reference_words(query)


# Words are looked up as written, the original NRCLex's rule: its lexicon is lowercase, so
# "Baby", "Excited", "Top" and "MOUNTAIN" count nothing. (caption, as written, lowercased)
CAPITALISED_VECTORS = [
    ("Baby in a crib", dict(neutral=1), dict(joy=1, positive=1)),
    ("a baby in a crib", dict(joy=1, positive=1), dict(joy=1, positive=1)),
    (
        "Excited kids climb to the Top of a MOUNTAIN",  # plain text: the fast word path
        dict(neutral=1),
        dict(anticipation=3, joy=1, positive=2, surprise=1, trust=2),
    ),
    (
        "Excited kids climb to the Top of a mountain. They wave!",  # punctuation: Punkt and Treebank
        dict(anticipation=1, neutral=1),
        dict(anticipation=3, joy=1, positive=2, surprise=1, trust=2),
    ),
    ("An angry, Storm", dict(anger=1, disgust=1, negative=1), dict(anger=2, disgust=1, negative=2)),
]


@pytest.mark.parametrize("caption,as_written,lowercased", CAPITALISED_VECTORS)
def test_nrc_counts_look_words_up_as_written_unless_lowercase(caption, as_written, lowercased):
    assert {k: v for k, v in emotions.nrc_counts(caption).items() if v} == as_written
    assert {k: v for k, v in emotions.nrc_counts(caption, lowercase=True).items() if v} == lowercased


def test_nrc_counts_are_nrclex_own_counts_of_the_reference_words():
    """The hand-written vectors above, and many generated captions, against NRCLex itself."""
    from nrclex import NRCLex

    rng = random.Random(2)
    vocabulary = ["Happy", "happy", "storm", "Storm", "angry", "baby", "Baby", "party", "MOUNTAIN", "top", "kids",
                  "excited", "sad", "alone", "the", "a", "cake", "laugh", "scary", "dark", "love", "war", "gift"]
    ends = ["", "", "", ",", ".", "!", "?", "'s"]
    captions = [caption for caption, _, _ in CAPITALISED_VECTORS] + [
        " ".join(rng.choice(vocabulary) + rng.choice(ends) for _ in range(rng.randint(1, 10))) for _ in range(300)
    ]
    for caption in captions:
        for lowercase in (False, True):
            words = _reference_words(caption)
            reference = NRCLex()
            reference.load_token_list([word.lower() for word in words] if lowercase else words)
            ours = emotions.nrc_counts(caption, lowercase=lowercase)
            assert {k: v for k, v in ours.items() if v and k != "neutral"} == reference.raw_emotion_scores, caption
            polar = reference.raw_emotion_scores.get("positive", 0) + reference.raw_emotion_scores.get("negative", 0)
            assert ours["neutral"] == int(polar == 0), caption


def test_queries_are_lowercased_by_default_captions_are_not():
    assert emotions.query_emotions("Baby in a crib") == [1, 0, 0, 0, 0, 0, 0, 0]
    assert emotions.query_emotions("Baby in a crib", lowercase=False) == [0] * 8
    assert emotions.record_emotion_vector({"caption": "Baby in a crib"}) == [0] * 8
    assert emotions.record_emotion_vector({"caption": "Baby in a crib"}, lowercase=True) == [1, 0, 0, 0, 0, 0, 0, 0]


def test_fast_vader_gives_the_stock_scores():
    analyzer = emotions.vader()
    alphabet = string.ascii_letters + string.punctuation + "   "
    rng = random.Random(1)
    words = ["good", "bad", "happy", "not", "never", "but", "very", "kind", "of", "LOVE", ":)", ":(", "ok"]
    texts = [
        " ".join(rng.choice(words) + rng.choice(["", "", "!", ",", "...", "?"]) for _ in range(rng.randint(1, 12)))
        for _ in range(300)
    ] + ["".join(rng.choice(alphabet) for _ in range(40)) for _ in range(300)]
    fast = [analyzer.polarity_scores(t) for t in texts]
    vader_fast.uninstall()
    try:
        stock = [analyzer.polarity_scores(t) for t in texts]
    finally:
        assert vader_fast.install(analyzer)
    assert fast == stock


def test_sentiment_has_the_four_vader_keys():
    scores = emotions.sentiment("a happy yellow ball bounces")
    assert set(scores) == set(emotions.SENTIMENT_KEYS)
    assert scores["compound"] > 0


def test_vader_lexicon_is_built_offline_in_the_cache(tmp_path, monkeypatch):
    import nltk

    monkeypatch.setenv("EMORET_CACHE", str(tmp_path))
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "elsewhere")])
    emotions.ensure_vader_lexicon()
    assert (tmp_path / "nltk_data" / "sentiment" / "vader_lexicon.zip").is_file()
    from nltk.sentiment.vader import SentimentIntensityAnalyzer

    assert SentimentIntensityAnalyzer().polarity_scores("good")["compound"] > 0


def test_emotion_vector_order_and_parsing():
    assert emotions.EMOTIONS == ("joy", "trust", "fear", "surprise", "sadness", "disgust", "anger", "anticipation")
    assert emotions.parse_emotion_names("trust, joy") == [1, 1, 0, 0, 0, 0, 0, 0]
    with pytest.raises(ValueError, match="unknown emotion 'glee'"):
        emotions.parse_emotion_names("joy,glee")
    assert emotions.query_emotions("a fearful animation scene") == [0, 0, 1, 0, 1, 0, 0, 0]
    assert emotions.record_emotion_vector({"caption": "x", "joy": 2, "anger": 1}) == [2, 0, 0, 0, 0, 0, 1, 0]
    assert emotions.record_emotion_vector({"caption": "a fearful animation scene"}) == [0, 0, 1, 0, 1, 0, 0, 0]
