"""Syndication: the same story from several sources is one story; everything else is not.

A small labelled set (the seed page, which republishes a CISA story, and steel stories written for
these tests) pins the threshold; the Redis tests pin the index: other sources only, the earliest
copy wins, short texts never match, keys expire and buckets stay bounded.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
import redis as redis_lib

from tasks import syndication
from tasks.models import Article
from tasks.syndication import find_original, index, signature, similarity

TTL = 3600

CISA_TITLE = "The 4th National Steel Green and Low Carbon Development Conference Held in Nanjing"
THAI_TITLE = "การประชุมการพัฒนาเหล็กสีเขียวและคาร์บอนต่ำแห่งชาติครั้งที่ 4 จัดขึ้นที่เมือง Nanjing."

SEED_PARAGRAPHS = [
    "The 4th National Steel Green and Low Carbon Development Conference was held in Nanjing on "
    "Sep 8, 2023. Delegates from the government, steel and related industry enterprises, and "
    "industrial associations focused on the two major themes of ultra-low emissions and "
    '"carbon peaking and neutrality goals", exchanging and discussing on technological '
    "innovation and policies.",
    "This meeting is guided by the China Iron and Steel Industry Association, hosted by China "
    "Metallurgical News, and organized by Nanjing Steel United Co., Ltd.",
    "Zhang Haideng, Deputy Director of the Raw Materials Industry Department of the Ministry of "
    "Industry and Information Technology, expressed three opinions in his speech on promoting "
    "green and low-carbon development of the steel industry:",
    "Firstly, promote green and low-carbon development of the steel industry through industrial "
    "innovation.",
    "Secondly, the key work of innovation driving green and low-carbon development.",
    "Thirdly, promoting green and low-carbon development is an important part of stabilizing "
    "growth. Zhang Haideng stated that we should closely combine green and low-carbon development "
    "with the work of keeping stable growth, fully leverage the role of the steel industry as a "
    "fundamental and pillar industry of the national economy, and make greater contributions to "
    "stable industrial growth and economic operation.",
    "Jiang Wei, Deputy Secretary of the Party Committee, Vice Chairman and Secretary General of "
    "CISA, stated in his speech that we ought to improve the ideological standing, fully "
    "recognize the importance of green and low-carbon work, continue to promote high-quality "
    "ultra-low emission transformation, and the progress of green and low-carbon technology in "
    "the industry, accelerate the formulation of low-carbon emission steel standards. At the "
    "same time, we need to strengthen the system concept and promote green and low-carbon "
    "transformation from the view of the whole industrial chain and focus on weak areas and "
    "basic work such as data governance.",
    "Jiang Wei also stated that we encourage top steel companies to use funds and innovative "
    "resources in various ways to promote collaborative research and development of common "
    "technologies in determining the future low-carbon key cutting-edge technology development "
    "of China's steel, and strive to seize the opportunity in the new round of green development "
    "competition in the world. CISA will track and promptly report the company's requirements to "
    "relevant departments for coordinated resolution.",
]

ISIT_DISCLAIMER = (
    "The information in the above report, publication and website has been obtained from sources "
    "believed to be reliable. However, Iron & Steel Institute of Thailand does not guarantee the "
    "accuracy, adequacy or completeness of the information. Any opinions or forecasts regarding "
    "future events may differ from actual events or results. In addition, Iron & Steel Institute "
    "of Thailand reserves the right to make changes and corrections to the information, including "
    "any opinions or forecasts, at any time without notice."
)
ISIT_INTRO = "ISIT Steel Market Brief: news from the steel industry in Thailand and abroad."


def page(*parts: str) -> str:
    return "\n\n".join(parts)


# The story as CISA published it, and as the Institute republished it (the seed page).
CISA = page(CISA_TITLE, *SEED_PARAGRAPHS)
ISIT = page(
    THAI_TITLE,
    "14 September 2023",
    ISIT_INTRO,
    *SEED_PARAGRAPHS,
    "Source : CISA",
    "Related News",
    ISIT_DISCLAIMER,
)
CISA_TRIMMED = page(THAI_TITLE, *SEED_PARAGRAPHS[:-1], "Source : CISA")
CISA_COPYEDITED = page(
    CISA_TITLE,
    *(
        p.replace("was held", "took place")
        .replace("Sep 8, 2023", "8 September 2023")
        .replace("stabilizing", "stabilising")
        .replace("organized", "organised")
        .replace("we ought to", "the industry should")
        for p in SEED_PARAGRAPHS
    ),
)
# The same event, written afresh: a different article, not a republication.
CISA_PARAPHRASE = page(
    "Nanjing hosts steel decarbonisation meeting",
    "Government officials, steelmakers and trade bodies met in Nanjing on 8 September for the "
    "fourth national conference on green, low-carbon steel, where talk centred on ultra-low "
    "emission retrofits and China's targets for peak carbon and carbon neutrality.",
    "Organisers included the China Iron and Steel Industry Association, the newspaper China "
    "Metallurgical News and the host company, Nanjing Steel.",
    "A senior official from the industry ministry's raw materials department told delegates that "
    "innovation must lead the shift to cleaner production, and that cutting emissions has to go "
    "hand in hand with keeping industrial output steady, given steel's place at the core of the "
    "economy.",
    "The association's secretary general, Jiang Wei, urged faster work on standards for low-carbon "
    "steel, better emissions data across the supply chain, and joint research by the largest "
    "producers into breakthrough technologies, so that Chinese mills can compete as the world "
    "races to decarbonise. He said the association would pass companies' concerns on to the "
    "government departments concerned.",
)

HRC_IMPORTS = page(
    "Thai hot-rolled coil imports jump as Chinese prices slide",
    "Thailand imported 412,000 tonnes of hot-rolled coil in August, up 12 percent from July and "
    "the highest monthly volume this year, according to customs data compiled by the institute.",
    "Shipments from China accounted for almost two thirds of the total as Chinese mills, facing "
    "weak construction demand at home, cut export offers to around 540 dollars a tonne.",
    "Domestic rerollers said the flood of cheap coil was pushing down local selling prices and "
    "keeping plant utilisation near 30 percent. Several producers have asked the Department of "
    "Foreign Trade to widen anti-dumping duties to cover boron-added grades, which currently "
    "enter the country duty free.",
    "Traders expect imports to ease in the fourth quarter once buyers have worked through "
    "inventories built up over the summer.",
)
VIETNAM_OUTPUT = page(
    "Vietnam crude steel output falls for third month",
    "Vietnam produced 1.6 million tonnes of crude steel in August, down 8 percent from a year "
    "earlier, the Vietnam Steel Association said, as the property slump continued to weigh on "
    "demand for construction steel.",
    "Sales of finished steel fell 5 percent, while exports of galvanised sheet rose on stronger "
    "orders from Europe and the United States.",
    "Hoa Phat, the country's largest producer, delayed the start of a second blast furnace at its "
    "Dung Quat complex and said it would keep some rolling lines idle until domestic prices "
    "recover. Smaller mills have cut working hours to reduce losses.",
    "The association asked the government to speed up public investment projects, which it said "
    "could absorb more than a million tonnes of rebar by the end of the year.",
)
CBAM = page(
    "EU carbon border levy reporting starts for steel importers",
    "Importers of steel, aluminium and cement into the European Union must file their first "
    "quarterly reports under the Carbon Border Adjustment Mechanism by the end of January, "
    "listing the embedded emissions of the goods they brought in during the last quarter.",
    "No levy is due during the transitional phase, which runs until the end of 2025, but "
    "companies that fail to report face penalties of between 10 and 50 euros per tonne of "
    "unreported emissions.",
    "Exporters in Asia are scrambling to collect plant-level emissions data. Many mills do not yet "
    "measure emissions by product, and consultants say default values published by the European "
    "Commission will often be higher than actual emissions, raising costs for buyers once the "
    "levy applies from 2026.",
    "Steel associations in India, Turkey and Thailand have asked for longer deadlines and for "
    "recognition of national carbon pricing schemes.",
)

HRC_THAI = (
    "สถาบันเหล็กและเหล็กกล้าแห่งประเทศไทยรายงานว่า การนำเข้าเหล็กแผ่นรีดร้อนของไทยในเดือนสิงหาคม"
    "เพิ่มขึ้นร้อยละ 12 เมื่อเทียบกับเดือนก่อนหน้า และเป็นปริมาณสูงสุดในรอบปี "
    "โดยมีสาเหตุหลักจากราคาส่งออกของจีนที่ลดลงอย่างต่อเนื่อง เนื่องจากความต้องการในประเทศจีนยังอ่อนแอ "
    "ผู้ประกอบการในประเทศกังวลว่าการนำเข้าที่เพิ่มขึ้นจะกดดันราคาขายและอัตราการใช้กำลังการผลิต "
    "ซึ่งปัจจุบันอยู่ที่ประมาณร้อยละ 30 เท่านั้น ผู้ผลิตหลายรายจึงยื่นขอให้กรมการค้าต่างประเทศ"
    "ขยายการใช้มาตรการตอบโต้การทุ่มตลาดให้ครอบคลุมเหล็กผสมโบรอน"
)
CBAM_THAI = (
    "สหภาพยุโรปเริ่มบังคับใช้มาตรการปรับราคาคาร์บอนก่อนข้ามพรมแดนในช่วงเปลี่ยนผ่าน "
    "ผู้นำเข้าเหล็ก อะลูมิเนียม และซีเมนต์ต้องรายงานปริมาณการปล่อยก๊าซเรือนกระจกของสินค้าทุกไตรมาส "
    "แม้ยังไม่ต้องจ่ายค่าธรรมเนียมจนถึงสิ้นปี 2568 แต่หากไม่รายงานจะถูกปรับ "
    "ผู้ส่งออกในเอเชียจึงเร่งเก็บข้อมูลการปล่อยก๊าซระดับโรงงาน เพราะโรงงานจำนวนมากยังไม่ได้วัดการปล่อย"
    "แยกตามผลิตภัณฑ์ และค่ามาตรฐานที่คณะกรรมาธิการยุโรปประกาศมักสูงกว่าค่าจริง"
)


def republished(*story: str) -> str:
    """How the Institute republishes a story: its intro line, a source line, its disclaimer."""
    return page(ISIT_INTRO, *story, "Source : wire", "Related News", ISIT_DISCLAIMER)


LABELLED: list[tuple[str, str, str, bool]] = [
    ("seed page vs CISA original", CISA, ISIT, True),
    ("last paragraph cut, Thai title", CISA, CISA_TRIMMED, True),
    ("copy-edited", CISA, CISA_COPYEDITED, True),
    ("republished with intro and disclaimer", HRC_IMPORTS, republished(HRC_IMPORTS), True),
    ("Thai title prepended", VIETNAM_OUTPUT, page(THAI_TITLE, VIETNAM_OUTPUT), True),
    ("Thai story with English source line", HRC_THAI, page(HRC_THAI, "Source : ISIT"), True),
    ("same event, rewritten", CISA, CISA_PARAPHRASE, False),
    (
        "same topic, shared boilerplate",
        republished(HRC_IMPORTS),
        republished(VIETNAM_OUTPUT),
        False,
    ),
    ("different story, both from the seed site", ISIT, republished(CBAM), False),
    ("steel trade stories", HRC_IMPORTS, CBAM, False),
    ("steel market stories", VIETNAM_OUTPUT, HRC_IMPORTS, False),
    ("Thai steel stories", HRC_THAI, CBAM_THAI, False),
    ("same story, Thai and English", HRC_THAI, HRC_IMPORTS, False),
]


@pytest.mark.parametrize(
    ("first", "second", "duplicate"),
    [pytest.param(a, b, label, id=name) for name, a, b, label in LABELLED],
)
def test_labelled_pairs(first: str, second: str, duplicate: bool) -> None:
    score = similarity(signature(first), signature(second))
    assert (score >= syndication.THRESHOLD) is duplicate, f"similarity {score:.2f}"


def test_signature_ignores_case_punctuation_and_whitespace() -> None:
    loud = CISA.upper().replace(",", " ").replace(".", " !").replace(" ", "\n  ")
    assert similarity(signature(CISA), signature(loud)) == 1.0


def test_signature_round_trips_and_is_stable() -> None:
    sig = signature(CISA)
    assert len(sig) == syndication.SLOTS
    assert syndication.decode(syndication.encode(sig)) == sig
    assert signature(CISA) == sig  # no per-process randomness (Python's str hash is salted)


def test_short_texts_have_no_signature() -> None:
    short = " ".join(["steel"] * (syndication.MIN_WORDS - 1))
    assert signature(short) == ()
    assert signature("") == ()
    assert signature(THAI_TITLE) == ()
    assert similarity(signature(short), signature(short)) == 0.0


@pytest.mark.parametrize(
    ("text", "digest"),
    [
        (CISA, "0fd7e108ee2c7b3c"),
        (ISIT, "f160be6088058e84"),  # with a Thai title: character 5-grams
        (" ".join([THAI_TITLE] * 5), "30dd12b6b992914c"),
    ],
)
def test_signatures_are_stable(text: str, digest: str) -> None:
    """Signatures stored in Redis by an earlier version must still compare: pin the algorithm.

    A deliberate change of the signature needs a new key or encoding version, not a new digest.
    """
    encoded = syndication.encode(signature(text)).encode()
    assert hashlib.sha256(encoded).hexdigest()[:16] == digest


def article(
    article_id: str, source_id: str, text: str, published: datetime | None = None
) -> Article:
    return Article(
        id=article_id,
        source_id=source_id,
        url=f"https://{source_id}.example/{article_id}",
        canonical_url=f"https://{source_id}.example/{article_id}",
        title="",
        text=text,
        published=published,
    )


DAY = datetime(2023, 9, 8, tzinfo=UTC)


def test_republication_by_another_source_points_to_the_original(
    redis: redis_lib.Redis, key_prefix: str
) -> None:
    original = article("cisa-1", "cisa", CISA, DAY)
    index(redis, key_prefix, original, TTL)
    copy = article("isit-1", "isit-news", ISIT, DAY + timedelta(days=6))
    assert find_original(redis, key_prefix, copy) == "cisa-1"
    assert find_original(redis, key_prefix, copy, signature(ISIT)) == "cisa-1"


def test_same_topic_stories_with_shared_boilerplate_are_not_duplicates(
    redis: redis_lib.Redis, key_prefix: str
) -> None:
    index(redis, key_prefix, article("hrc", "isit-news", republished(HRC_IMPORTS)), TTL)
    other = article("vn", "steel-asia", republished(VIETNAM_OUTPUT))
    assert find_original(redis, key_prefix, other) is None


def test_a_sources_own_repost_is_not_syndication(redis: redis_lib.Redis, key_prefix: str) -> None:
    first = article("hrc-1", "isit-news", HRC_IMPORTS, DAY)
    index(redis, key_prefix, first, TTL)
    repost = article("hrc-2", "isit-news", republished(HRC_IMPORTS), DAY + timedelta(days=1))
    assert find_original(redis, key_prefix, repost) is None
    index(redis, key_prefix, repost, TTL)
    # Another source's copy points to the oldest of the two originals.
    elsewhere = article("hrc-3", "steel-asia", HRC_IMPORTS, DAY + timedelta(days=2))
    assert find_original(redis, key_prefix, elsewhere) == "hrc-1"


def test_an_article_never_duplicates_itself(redis: redis_lib.Redis, key_prefix: str) -> None:
    original = article("cisa-1", "cisa", CISA)
    index(redis, key_prefix, original, TTL)
    assert find_original(redis, key_prefix, original) is None
    # Even as seen by a re-poll of another source that owns the same id.
    assert find_original(redis, key_prefix, original.replace(source_id="isit-news")) is None


def test_short_texts_are_never_duplicates(redis: redis_lib.Redis, key_prefix: str) -> None:
    notice = "Office closed on Friday for the national holiday. " * 3
    index(redis, key_prefix, article("n-1", "cisa", notice), TTL)
    assert list(redis.scan_iter(match=f"{key_prefix}*")) == []
    assert find_original(redis, key_prefix, article("n-2", "isit-news", notice)) is None


def test_the_earliest_original_wins(redis: redis_lib.Redis, key_prefix: str) -> None:
    # A race let two sources both store the story as an original; a third copy picks the older.
    index(redis, key_prefix, article("late", "steel-asia", CISA, DAY + timedelta(hours=5)), TTL)
    index(redis, key_prefix, article("early", "cisa", CISA, DAY), TTL)
    copy = article("isit-1", "isit-news", ISIT, DAY + timedelta(days=6))
    assert find_original(redis, key_prefix, copy) == "early"


def test_the_first_copy_seen_is_the_original(redis: redis_lib.Redis, key_prefix: str) -> None:
    """save_article checks, stores, then indexes originals only: the later copy is the duplicate."""
    first = article("cisa-1", "cisa", CISA, DAY)
    assert find_original(redis, key_prefix, first) is None
    index(redis, key_prefix, first, TTL)
    second = article("isit-1", "isit-news", ISIT, DAY + timedelta(days=6))
    second = second.replace(duplicate_of=find_original(redis, key_prefix, second))
    assert second.duplicate_of == "cisa-1"
    index(redis, key_prefix, second, TTL)  # a duplicate is not indexed
    assert not redis.exists(f"{key_prefix}sig:isit-1")
    # A third copy points to the original, not to the duplicate.
    third = article("asia-1", "steel-asia", CISA_TRIMMED, DAY + timedelta(days=7))
    assert find_original(redis, key_prefix, third) == "cisa-1"


def test_keys_expire_with_the_retention(redis: redis_lib.Redis, key_prefix: str) -> None:
    index(redis, key_prefix, article("cisa-1", "cisa", CISA), TTL)
    keys = [key.decode() for key in redis.scan_iter(match=f"{key_prefix}*")]
    assert f"{key_prefix}sig:cisa-1" in keys
    buckets = [key for key in keys if key.startswith(f"{key_prefix}lsh:")]
    assert len(buckets) == syndication.BANDS
    for key in keys:
        assert 0 < redis.ttl(key) <= TTL


def test_expired_originals_are_not_returned(redis: redis_lib.Redis, key_prefix: str) -> None:
    index(redis, key_prefix, article("cisa-1", "cisa", CISA), TTL)
    redis.delete(f"{key_prefix}sig:cisa-1")  # what expiry does; bucket entries may outlive it
    assert find_original(redis, key_prefix, article("isit-1", "isit-news", ISIT)) is None


def test_bucket_members_older_than_the_retention_are_ignored_and_evicted_first(
    redis: redis_lib.Redis, key_prefix: str
) -> None:
    index(redis, key_prefix, article("cisa-1", "cisa", CISA), TTL)
    buckets = list(redis.scan_iter(match=f"{key_prefix}lsh:*"))
    stale = datetime.now(UTC).timestamp() - 2 * TTL
    for key in buckets:
        redis.zadd(key, {"stale": stale})  # its signature hash expired long ago
    copy = article("asia-1", "steel-asia", CISA)
    assert find_original(redis, key_prefix, copy) == "cisa-1"
    for n in range(syndication.BUCKET_CAP):
        index(redis, key_prefix, article(f"cisa-{n + 2}", "cisa", CISA), TTL)
    for key in buckets:
        assert redis.zscore(key, "stale") is None


def test_buckets_are_bounded(redis: redis_lib.Redis, key_prefix: str) -> None:
    for n in range(syndication.BUCKET_CAP + 5):
        index(redis, key_prefix, article(f"repost-{n}", "isit-news", HRC_IMPORTS), TTL)
    buckets = list(redis.scan_iter(match=f"{key_prefix}lsh:*"))
    assert len(buckets) == syndication.BANDS
    assert {redis.zcard(key) for key in buckets} == {syndication.BUCKET_CAP}
