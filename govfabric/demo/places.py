"""Beijing districts with their real GB/T 2260 codes, streets and roads, and a few
birthplace divisions elsewhere (resident ID numbers keep the birthplace's code)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class District:
    code: str
    name: str
    weight: int
    streets: tuple[str, ...]
    roads: tuple[str, ...]


CITY = "北京市"
CITY_CODE = "110000"

DISTRICTS = (
    District(
        "110101",
        "东城区",
        6,
        (
            "东华门街道",
            "景山街道",
            "交道口街道",
            "安定门街道",
            "北新桥街道",
            "东四街道",
            "朝阳门街道",
            "建国门街道",
        ),
        (
            "东四北大街",
            "朝阳门内大街",
            "王府井大街",
            "东直门内大街",
            "安定门内大街",
            "东长安街",
            "崇文门外大街",
        ),
    ),
    District(
        "110102",
        "西城区",
        7,
        ("西长安街街道", "金融街街道", "德胜街道", "月坛街道", "展览路街道", "什刹海街道", "新街口街道"),
        (
            "西单北大街",
            "金融大街",
            "德胜门外大街",
            "月坛北街",
            "阜成门外大街",
            "新街口外大街",
            "复兴门内大街",
        ),
    ),
    District(
        "110105",
        "朝阳区",
        20,
        (
            "建外街道",
            "三里屯街道",
            "望京街道",
            "酒仙桥街道",
            "呼家楼街道",
            "麦子店街道",
            "潘家园街道",
            "大屯街道",
        ),
        (
            "建国路",
            "朝阳北路",
            "望京街",
            "酒仙桥路",
            "东三环中路",
            "工人体育场北路",
            "光华路",
            "安立路",
            "广顺北大街",
        ),
    ),
    District(
        "110106",
        "丰台区",
        10,
        ("丰台街道", "卢沟桥街道", "马家堡街道", "右安门街道", "太平桥街道", "新村街道"),
        ("丰台北路", "南三环西路", "丰葆路", "马家堡东路", "科学城富丰路", "西四环南路"),
    ),
    District(
        "110107",
        "石景山区",
        4,
        ("八宝山街道", "老山街道", "八角街道", "古城街道", "鲁谷街道"),
        ("石景山路", "鲁谷路", "古城大街", "八角东街", "实兴大街"),
    ),
    District(
        "110108",
        "海淀区",
        20,
        ("中关村街道", "海淀街道", "学院路街道", "上地街道", "北太平庄街道", "万寿路街道", "清河街道"),
        ("中关村大街", "海淀大街", "学院路", "上地信息路", "知春路", "北四环西路", "苏州街", "西二旗大街"),
    ),
    District(
        "110112",
        "通州区",
        8,
        ("中仓街道", "新华街道", "北苑街道", "玉桥街道", "梨园地区"),
        ("新华大街", "通胡大街", "九棵树东路", "玉桥中路", "运河东大街"),
    ),
    District(
        "110114",
        "昌平区",
        9,
        ("城北街道", "城南街道", "回龙观街道", "天通苑北街道", "霍营街道"),
        ("政府街", "回龙观西大街", "立汤路", "鼓楼南街", "科技园区生命园路"),
    ),
    District(
        "110115",
        "大兴区",
        8,
        ("兴丰街道", "林校路街道", "清源街道", "亦庄地区", "高米店街道"),
        ("兴华大街", "黄村西大街", "荣华南路", "清源路", "金星路"),
    ),
)
DISTRICT_BY_CODE = {d.code: d for d in DISTRICTS}
_DISTRICT_WEIGHTS = tuple(d.weight for d in DISTRICTS)

BIRTHPLACES = (
    ("120101", "天津市和平区"),
    ("130102", "河北省石家庄市长安区"),
    ("140105", "山西省太原市小店区"),
    ("150102", "内蒙古自治区呼和浩特市新城区"),
    ("210102", "辽宁省沈阳市和平区"),
    ("230102", "黑龙江省哈尔滨市道里区"),
    ("310101", "上海市黄浦区"),
    ("320102", "江苏省南京市玄武区"),
    ("330106", "浙江省杭州市西湖区"),
    ("340104", "安徽省合肥市蜀山区"),
    ("350102", "福建省福州市鼓楼区"),
    ("360102", "江西省南昌市东湖区"),
    ("370102", "山东省济南市历下区"),
    ("410105", "河南省郑州市金水区"),
    ("420106", "湖北省武汉市武昌区"),
    ("430102", "湖南省长沙市芙蓉区"),
    ("440106", "广东省广州市天河区"),
    ("500103", "重庆市渝中区"),
    ("510104", "四川省成都市锦江区"),
    ("610113", "陕西省西安市雁塔区"),
)


def district(rng: random.Random) -> District:
    return rng.choices(DISTRICTS, weights=_DISTRICT_WEIGHTS)[0]


def home_address(rng: random.Random, d: District) -> str:
    return (
        f"{CITY}{d.name}{rng.choice(d.roads)}{rng.randint(1, 199)}号院{rng.randint(1, 24)}号楼"
        f"{rng.randint(1, 6)}单元{rng.randint(1, 28)}{rng.randint(1, 8):02d}室"
    )


def business_address(rng: random.Random, d: District) -> str:
    number, floor, room = rng.randint(1, 299), rng.randint(1, 30), rng.randint(1, 40)
    return f"{CITY}{d.name}{rng.choice(d.roads)}{number}号{floor}层{room:02d}室"
