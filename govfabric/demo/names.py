"""Chinese personal names for synthetic people.

Surnames follow the rough frequency order of the census lists, with a few compound
surnames; given names draw on common characters plus a handful of rare ones outside
GBK (䶮 in CJK Extension A, others outside the BMP) so every consumer is forced to
carry GB18030 / full Unicode correctly.
"""

from __future__ import annotations

import random
from itertools import accumulate

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "司徒", "东方", "皇甫", "慕容", "夏侯", "尉迟")

MALE_CHARS = (
    "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林阳洋峰建国志文博晨轩然睿泽翔子昊天瑞成东海"
    "亮剑锋毅诚政宏嘉铭哲骏豪卓远航思源一鸣景行致远承德立新永胜建军卫兵"
)
FEMALE_CHARS = (
    "芳娜敏静丽艳娟霞秀玲桂英慧巧美燕倩婷雪琳晶颖欣怡佳梦雨萱涵诗琪悦馨瑶婉清月彤菲璐蕾薇婧妍晓岚红梅兰"
    "丹凤琴云洁素心语若希可依冰"
)
RARE_CHARS = ("䶮", "𫖯", "𫟼", "𬀩", "𬘭", "𬱖")
"""Name characters outside GBK: 䶮 (U+4DAE, Extension A); the rest are outside the BMP."""

ETHNICITIES = (
    ("汉族", 918),
    ("满族", 12),
    ("回族", 11),
    ("蒙古族", 6),
    ("朝鲜族", 4),
    ("壮族", 5),
    ("土家族", 4),
    ("苗族", 4),
    ("维吾尔族", 3),
    ("藏族", 3),
    ("彝族", 2),
)

_SURNAME_WEIGHTS = tuple(accumulate(1000 / (i + 8) for i in range(len(SURNAMES))))
_ETHNIC_CUM = tuple(accumulate(w for _, w in ETHNICITIES))


def surname(rng: random.Random) -> str:
    if rng.random() < 0.006:
        return rng.choice(COMPOUND_SURNAMES)
    return rng.choices(SURNAMES, cum_weights=_SURNAME_WEIGHTS)[0]


def given_name(rng: random.Random, sex: str) -> str:
    pool = MALE_CHARS if sex == "M" else FEMALE_CHARS
    first = rng.choice(pool)
    if rng.random() < 0.004:
        first = rng.choice(RARE_CHARS)
    return first if rng.random() < 0.22 else first + rng.choice(pool)


def full_name(rng: random.Random, sex: str) -> str:
    return surname(rng) + given_name(rng, sex)


def ethnicity(rng: random.Random) -> str:
    return rng.choices(ETHNICITIES, cum_weights=_ETHNIC_CUM)[0][0]


MOBILE_PREFIXES = (
    "130 131 132 133 134 135 136 137 138 139 150 151 152 153 155 156 157 158 159 "
    "166 170 171 173 175 176 177 178 180 181 182 183 184 185 186 187 188 189 198 199"
).split()


def mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
