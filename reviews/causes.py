"""Suggest the main cause of a negative review, offline: jieba, a hand-written lexicon and a small trained model.

Nothing is downloaded. The cue words, their weights and the rules below were written from how
Chinese buyers complain after sales (物流/质量/客服/…), not mined from any review file. A small
linear model (``reviews/training/model.json``) trained only on review texts the team wrote and
labelled itself (``reviews/training/causes_train.csv``) is added to the lexicon's scores (step 5
below and ``reviews/training/README.md``). A shop's own confirmed or corrected causes refine the
suggestion (``learn``).

How a text is read
------------------
1. ``normalise``: HTML tags and entities, control characters (NUL…) and full-width forms are
   cleaned up (NFKC, lower case); only the first ``MAX_CHARS`` characters are read.
2. The text is cut into clauses at punctuation and spaces, and each clause into words by a
   private jieba tokenizer whose dictionary also holds every cue word, so a cue comes out as one
   token (``发货慢``, ``态度差``) and a cue inside an unrelated word does not count (``放假的`` is
   not ``假的``). One-character cues (``缺``, ``贵``, ``烂``) therefore only count as whole words.
3. Each token is looked up in the lexicon. A cue is one of three kinds:

   * *complaint* (``坏了``, ``少发``, ``降价``): counts unless negated — a negator shortly before
     it (``没有色差``, ``不卡``, ``不是质量问题``) cancels it; an intensifier (``太``, ``非常``,
     ``严重``) multiplies it by 1.5; a softener after it (``色差不大``) by 0.3.
   * *aspect* (``物流``, ``客服``, ``安装``, ``质量``): a topic, judged by the evaluative words
     after it in the same clause: praised (``物流很快``, ``客服很耐心``) it counts nothing;
     criticised (``物流太慢``, ``态度很差``) it counts 1.6 times its weight; merely mentioned,
     0.6 times. ``不`` before an evaluative word flips it (``不是很快``).
   * *product* nouns (``东西``, ``手机``, ``书``): count only when criticised (``东西太差``).

   Clauses after a contrast (``但是``, ``就是``, ``可是``) weigh 1.3 (the real complaint usually
   follows it), a clause ending in ``!`` 1.2. Two rules span words: a container (``盒子``,
   ``箱子``, ``瓶子``) and damage (``破``, ``压烂``, ``漏``, ``拆过``) in one clause mean 包装破损;
   a few patterns with numbers (``五天才到``, ``降了50元``, ``只有4斤``) are regular expressions.
4. The cause with the highest score wins. Scores within ``TIE_MARGIN`` are a tie, broken toward
   the more actionable cause (``ACTIONABLE_ORDER``: a missing item can be re-sent today, a vague
   quality complaint cannot). With no cue at all: a text that still complains (``太差了``,
   ``退货``) is 质量问题, the usual cause of a product complaint; anything else is 其他.
5. The model reads the same words plus character bigrams (``model_features``; a cue the lexicon
   found negated or praised is marked, ``¬色差``/``+物流``) and gives log P(cause | text). For
   every cause, ``log P + mix["lexicon"] x lexicon score`` is compared, plus, when the lexicon
   counted no cue, a bias toward 其他 (nothing, or only negated or praised cues) or 质量问题 (a
   complaint word), as in step 4; the weights were chosen by cross-validation on the training
   texts. When the best cause is the lexicon's, its suggestion
   stands as in step 4 (rule ``lexicon``, ``fallback_complaint`` or ``unclear``); otherwise the
   suggestion has rule ``model``, the mixed probability as confidence and, as ``why``, the words
   that most favoured that cause. ``score`` and ``scores`` stay the lexicon's. Without the model
   file (or with ``use_model(None)``) the lexicon answers alone.

A shop's lexicon (``learn``)
----------------------------
``learn([(text, cause), ...])`` returns a small JSON-serialisable dict that ``suggest`` accepts
as ``corrections=``::

    {"version": 1,
     "cues": {"鼓包": {"质量问题": 1.6}, ...},     # learned word -> {cause: added weight}
     "confirmed": {"<digest of the text>": "物流"},  # exact texts the shop already decided
     "examples": 12}

Every corrected text is segmented; its content words (two characters or more, not function
words, evaluative words or product nouns) are counted per cause. A word becomes a cue of a cause
when at least ``LEARN_MIN_SHARE`` of the corrected texts that contain it carry that cause; its
weight is ``LEARN_WEIGHT x min(texts, 3) x share``, added to whatever the built-in lexicon says.
In the mix with the model, every point the learned cues add is also worth ``SHOP_WEIGHT``
log-odds on top: a shop's own corrections outrank a model trained on generic texts. A text the
shop already decided gets that cause back with confidence 1. Only digests of texts are kept,
never the texts (they may hold a buyer's personal data). Pass a plain
``{text: cause}`` mapping instead and it is learned on the fly (slower: learn once, reuse).
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import math
import re
import threading
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import jieba

import spreadsheets

QUALITY = "质量问题"
LOGISTICS = "物流"
SERVICE = "服务态度"
DESCRIPTION = "描述不符/尺寸"
MISSING = "少件错发"
INSTALL = "安装使用"
PRICE = "价格"
PACKAGING = "包装破损"
OTHER = "其他"
DEFAULT_CAUSES = (QUALITY, LOGISTICS, SERVICE, DESCRIPTION, MISSING, INSTALL, PRICE, PACKAGING, OTHER)
# Most actionable first: what a reviewer can fix or route today beats a general complaint.
ACTIONABLE_ORDER = (MISSING, PACKAGING, LOGISTICS, INSTALL, DESCRIPTION, PRICE, SERVICE, QUALITY, OTHER)

MAX_CHARS = 2_000  # marketplace reviews stop at a few hundred characters; more is pasted noise
TIE_MARGIN = 0.25
INTENSITY = 1.5
SOFTENED = 0.3
CRITICISED = 1.6
MENTIONED = 0.6
CONTRAST = 1.3
EMPHASIS = 1.2
PACKAGING_PAIR = 3.5
FALLBACK_CONFIDENCE = {"complaint": 0.3, "unclear": 0.2}
LEARN_WEIGHT = 0.8
LEARN_MIN_SHARE = 0.6
SHOP_LEXICON_VERSION = 1


# ---------------------------------------------------------------------------------------------
# The lexicon: {cause: {weight: "space separated cue words"}}. Written by hand, from experience
# of after-sales complaints about the goods sold on Chinese marketplaces (fruit, phones,
# tablets, laptops, clothes, shampoo, books, water heaters and the like).
# ---------------------------------------------------------------------------------------------

COMPLAINTS = {
    QUALITY: {
        3.0: """质量差 质量太差 质量很差 质量不好 质量不行 质量问题 质量有问题 做工差 做工粗糙 假货 是假的
                假冒 冒牌 山寨 高仿 仿品 不是正品 非正品 不像正品 盗版 二手 二手货 翻新 翻新机 用过的
                坏了 坏掉 坏的 故障 不能用 用不了 没法用 无法使用 不能使用 开不了机 无法开机 不开机
                黑屏 白屏 花屏 蓝屏 死机 自动关机 自动重启 闪退 卡死 不充电 充不进 充不了电 充不上电
                漏电 漏水 跳闸 不加热 不出热水 水不热 不制热 不制冷 坏果 烂果 烂了 烂的 发霉 霉了 变质
                过期 臭了 掉色 褪色 起球 缩水 开线 脱线 开胶 破洞 掉发 掉头发 脱发 过敏 缺页 少页 重页
                掉页 有虫 长虫 不新鲜 不耐用 电池不耐用 信号差 没信号 温度上不去 便宜没好货 故障码
                烧了 烧坏 冒烟 短路 不工作 没反应 鼓包 电池鼓包 忽冷忽热 打不着火 点不着 水温忽高忽低 旧书
                不是全新 不是新的 有使用痕迹 使用痕迹 激活过 被激活 水货 假冒伪劣""",
        2.5: """坏 假 霉 故障率 重启 卡顿 很卡 太卡 反应慢 运行慢 发热 发烫 烫手 耗电快 掉电快 续航差
                不灵 失灵 不灵敏 接触不良 松动 断了 裂了 裂开 碎了 有裂痕 划痕 刮痕 磨损 瑕疵 坏点
                漏光 生锈 掉漆 异响 杂音 噪音 噪音大 声音大 异味 有异味 味道大 刺鼻 甲醛 臭味 难闻
                异物 虫眼 不甜 太酸 没水分 水分少 口感差 难吃 不好吃 不好用 难用 没用 没效果 没有效果
                没什么效果 毫无效果 无效 头皮屑 头痒 线头 掉毛 扎人 不结实 易碎 容易坏 加热慢 不热
                水温不够 热水不够 兑水 错别字 掉线 断网 连不上 信号不好 不稳定 不出水 干涩 毛躁
                不起泡 变色 变黑 个头小 个头太小 个头很小 果子小 果子太小 果子很小 质量一般 质量堪忧
                充电慢 声音太大 声音很大 报错 起毛 勾丝 不保暖 不防水 硌脚 磨脚 开裂 脱胶 进水 漏气 爆了
                反应迟钝 识别不了 不识别 读不出 充不满 待机短 卡机 蔫了 没熟 发黑 变味 没有味道 头发干
                洗不干净 没泡沫 像水一样 热水少 熄火 官换机 三无 不好闻 味道不好闻""",
        2.0: """烫 臭 锈 旧 旧的 裂 虫 烂 耗电 费电 不清晰 模糊 不亮 不准 刺激 油腻 打结 泡沫少 太稀
                起皱 不透气 刺痒 磕碰 磕伤 碰伤 压伤 黑心 斑点 染色 瘪了 干瘪 不香 没味道 很酸 发软
                不好使 毛病 出问题 有问题 折痕 褶皱 太吵 很吵 吵 很冲 味道难闻 香味太浓 变形 进灰 不耐摔 屏幕暗
                偏色 软了 不脆 生的 硬邦邦 太硬 黑了 字太小 字体太小 越洗越 出水慢""",
        1.5: """卡 酸 涩 破 漏 断 脏 痒 稀 皱 疤 斑 苦 不太好用 不好看 用不习惯 速度慢 太薄 粗糙 差劲""",
        1.0: "薄 透 油",
    },
    LOGISTICS: {
        3.0: """发货慢 发货太慢 发货很慢 物流慢 物流太慢 物流很慢 快递慢 快递太慢 快递很慢 送货慢 配送慢
                迟迟不发货 不发货 还没发货 催发货 没收到货 还没到 一直没到 没到货 丢件 不送上门
                不送货上门 没送上门 送货上门 不上楼 放门口 物流太差 快递太差 物流差 快递差 延误 超时 发货晚 迟发
                延期发货 物流停滞 冒签 显示签收 被签收 暴力运输 暴力分拣 野蛮装卸""",
        2.5: "没发货 没收到 未收到 收不到 还没收到 才收到 才到 才送到 才发货 延迟 慢递 丢了 送错",
        2.0: "驿站 代收 自提 快递柜 拒收 退回 物流信息 不更新 运输 等了好久",
        1.5: "等了很久 派件",
        1.0: "签收 上楼 送上门 运费",
    },
    SERVICE: {
        3.0: """态度差 态度很差 态度太差 态度恶劣 态度不好 服务态度 不理人 没人理 没人回 没人回复 不回复
                不回消息 爱理不理 推诿 推卸 推脱 踢皮球 不负责任 服务差 服务太差 服务不好 售后差
                售后太差 售后不好 不耐烦 骂人 辱骂 一问三不知 回复慢 找借口 拒绝退货 拒绝退款 不给退款
                不给退货 不给换货 不给退换 不给退 不给换 不让退 不热情 不同意退货 不同意退款 不同意换货 不让退货
                不给处理 没人回答 不搭理 不理睬 半天不回 答非所问 态度冷淡""",
        2.5: """不理 敷衍 不负责 不处理 不解决 解决不了 联系不上 没人接 打不通 自动回复 糊弄 忽悠 推三阻四 拖延
                不回答 耍赖 欺骗消费者 不讲理""",
        2.0: "没解决 投诉 语气 机器人 骗子 不专业 不退 不换 拒绝 不同意 冷淡 一直让等 霸王条款",
        1.5: "七天无理由",
    },
    DESCRIPTION: {
        3.5: "与描述不符 描述不符 和描述不符 货不对板 和图片不一样 与图片不符 图文不符",
        3.0: """不符 不相符 虚假宣传 夸大宣传 色差 偏大 偏小 大一码 小一码 大一号 小一号 不合身 穿不上
                实物不符 尺码不准 尺码偏大 尺码偏小 码数不准 尺码不标准 尺码不对 码数不对""",
        2.5: "颜色不一样 不一致 差别很大 差距很大 夸大 标称 详情页 太紧 太肥 太短 太长 穿不了 版型",
        2.0: "差别 差距 宣传的 说的是 写的是 标注 不合适 紧 肥 短了 长了 袖长 裤长 腰围 肩宽 胸围 衣长 图片仅供参考 显胖 掉裆",
        1.5: "不一样 不像 太大 太小 大了 小了 骗人 照片 实物 不是说",
        1.0: "骗 参数",
    },
    MISSING: {
        3.5: """少发 漏发 错发 发错 寄错 发错了 颜色发错 尺码发错 码发错 型号不对 型号错 款式不对 款式错
                没有赠品 没赠品 赠品没有 没收到赠品 缺件 少件 不是我买的 不是我要的 不是我选的 不是我拍的
                缺斤少两 缺斤短两 没有收到赠品 赠品没收到 货不对 不是我订的 型号不符 重量不足 重量不够 不足斤""",
        3.0: """少了一个 少了一件 少一个 少一件 少了个 少了两个 缺少 没有配件 少配件 没有充电器 没有耳机
                没有数据线 没有说明书 只收到 只发了 数量不对 数量不够 个数不对 分量不足 不够秤 斤两不足
                说好的赠品 说好送 赠品呢 没送 没有送 发的不是 和订单不 赠品没给 没给赠品 赠品没发
                少了一本 少了一套 少了一瓶 少了一袋 少了一盒 少一本 少一瓶 少一盒 少一样""",
        2.5: "发成 颜色不对 称了一下 分量不够 不是同一款",
        2.0: "缺 只有一 收到的是 发来的是 发的是",
        1.8: "赠品 配件 少一 小样 送的",
        1.5: "少了",
    },
    INSTALL: {
        3.0: """安装费 材料费 额外收费 乱收费 没人来装 没人安装 迟迟不安装 不给安装 不上门 装驱动 装系统
                重装系统 不会用 不会装 不会安装 安装不了 装不上 装不了 不兼容 怎么安装 硬盘分区 装机费 安装要钱
                高空费 打孔费 不给装 没人装 驱动不全 找不到驱动 没有驱动 没有系统 不会设置 没装系统 没有装系统
                没预装系统 不带系统 没带系统""",
        2.5: """辅材 另收 另外收 加钱 驱动 重装 怎么用 不知道怎么 使用方法 预装 激活 linux dos 调试 装不好 无法安装
                安装失败 操作复杂 系统问题""",
        2.0: """打孔 收费 上门费 支架 预约 看不懂 教程 用不惯 win7 win8 win10 win11 windows office 分区 管材 自己装
                自己安装 装软件 不能装""",
        1.5: "设置 不习惯 软件",
    },
    PRICE: {
        3.0: """降价 掉价 跌价 价保 保价 差价 退差价 不值这个价 不值这个钱 买贵了 刚买就降 便宜了 涨价
                智商税 虚高 没有价保 不给价保 没有保价""",
        2.5: "不值 降了 买亏了 不划算 太贵 偏贵 优惠券 不保价 便宜好多 贵了",
        2.0: "贵 坑钱 亏了 多花 双十一 双11 618 不值得 价格高 价格太高 不值钱 没有优惠",
        1.0: "优惠 活动 便宜",
    },
    PACKAGING: {
        3.0: """包装破损 外包装破 包装破了 包装烂了 包装坏了 盒子破了 箱子破了 漏液 洒了 撒了 被拆过 拆过
                被拆 已拆封 被打开过 拆封过 包装简陋 包装太差 包装差 包装太简单 没有包装 包装不好 没拧紧 没拧好
                瓶盖松了 盖子松了 封口不严 没封好""",
        2.0: "破损 压坏 压扁 压烂 压变形 压破 挤压 漏了",
    },
    OTHER: {
        3.0: "发票 开发票 没有发票 收据 开票",
        2.0: """情节 文笔 故事 观点 翻译 废话 鸡汤 肤浅 空洞 拼凑 抄袭 不知所云 看不下去 读不下去
                没意思 无聊 啰嗦 浪费时间 深度 内容空洞 没有深度 没深度 没有意思 还没用 还没用过 还没有用 还没试
                暂时还没用 不值得看 不值一看""",
        1.5: "作者 书中 读完 看完 章节 小说",
    },
}

ASPECTS = {
    QUALITY: {
        2.0: "质量 做工 品质 印刷 纸张 纸质 装订",
        1.5: """材质 面料 效果 性能 电池 屏幕 信号 续航 音质 口感 味道 质感 散热 风扇 键盘 触摸板 触屏
                摄像头 拍照 像素 充电 按键 听筒 喇叭 扬声器 水温 加热 保温 去屑 止痒 新鲜度 个头
                字迹 拉链 走线 内存 硬盘 运行速度 声音""",
        1.0: "手感 待机 温度 速度 香味 头皮 wifi 蓝牙 显示屏 遥控器 清洗",
    },
    LOGISTICS: {
        2.5: "快递员态度 送货员态度 快递态度 配送员态度",
        2.0: "物流速度 发货速度 快递速度 送货速度 配送速度 物流服务 快递服务",
        1.5: "物流 快递 配送 送货 发货 快递员 送货员 配送员 派送 到货 顺丰 圆通 中通 申通 韵达 邮政 ems 德邦 百世",
    },
    SERVICE: {
        2.5: "客服态度",
        2.0: "客服 态度 售后服务 回复速度",
        1.5: "售后 服务 回复 卖家 商家 店家 掌柜 店铺",
    },
    DESCRIPTION: {
        2.5: """和图片 与图片 跟图片 和描述 跟描述 与描述 和宣传 和实物 与实物 跟实物 和照片 与照片 跟照片 和页面
                跟页面 和详情 和介绍 与介绍 和说明""",
        2.0: "尺码 码数 描述 宣传 图片",
        1.5: "尺寸 大小 配置 颜色 长度 宽度",
    },
    MISSING: {1.5: "型号", 1.0: "数量"},
    INSTALL: {
        2.0: "安装 师傅 安装师傅 安装工 装机 上门安装 系统 说明书 安装人员 安装公司",
        1.5: "操作 兼容",
    },
    PRICE: {1.5: "价格 价钱 性价比 售价"},
    PACKAGING: {1.5: "包装 外包装 包装盒"},
    OTHER: {1.5: "内容 写的 写得 书的内容"},
}

# Nouns for the goods themselves: they count for their cause only when criticised ("东西太差").
PRODUCTS = {
    QUALITY: {1.3: """东西 产品 商品 宝贝 货 衣服 裤子 裙子 鞋子 手机 电脑 笔记本 本本 平板 热水器 洗发水
                      洗发露 水果 苹果 橙子 果子 机器 机子 这款 空调 电视 冰箱 洗衣机 净水器"""},
    OTHER: {1.3: "书 本书 这本书 这本"},
}

# 包装破损: a container and damage in the same clause.
CONTAINERS = set("""包装 外包装 包装盒 盒子 盒 外盒 礼盒 箱子 箱 纸箱 外箱 快递盒 快递箱 泡沫 瓶子 瓶 瓶盖
                    盖子 袋子 包装袋 塑封 封口 封条 胶带 包裹""".split())
DAMAGE = set("""破 破了 破损 破掉 破开 烂 烂了 压坏 压扁 压烂 压变形 压破 挤压 漏 漏了 漏液 漏出 拆过 拆开过
                拆封 被拆 被打开 打开过 开封 开过 变形 瘪 瘪了 凹 凹陷 裂 裂开 裂了 撕 撕开 撕破
                湿透 洒 洒了 撒 溢 溢出 简陋 不严 没封 没封口 散了 坏 坏了 碎 碎了 脏 湿 湿了 摔坏 摔坏了""".split())

INSIDE = set("发现 里面 里边 里头 里 打开 拆开 内部 结果".split())  # words between: the damage is the contents'

# Regular expressions on a clause's text, for cues with numbers in them.
_NUMBER = r"(?:\d+|[一二两三四五六七八九十百几半多]+)"
PATTERNS = (
    (LOGISTICS, 3.0, "…天才到", re.compile(_NUMBER + r"\s*(?:天|日|周|个星期|星期|个月)(?:了)?(?:才|都没|还没|也没|仍没|没)")),
    (LOGISTICS, 2.5, "等了…天", re.compile(r"等了" + _NUMBER + r"\s*(?:天|日|周|个星期|星期)")),
    (PRICE, 3.0, "便宜/降了…元", re.compile(r"(?:便宜|降|降价|差价|差)了?" + _NUMBER + r"\s*(?:块|元|rmb|¥)")),
    (PRICE, 2.5, "比…便宜", re.compile(r"比.{1,12}便宜")),
    (PRICE, 2.5, "比…贵", re.compile(r"比.{1,12}贵")),
    (MISSING, 3.0, "只有/不到…斤", re.compile(r"(?:只有|不到|少了|差了|缺了)" + _NUMBER + r"\s*(?:斤|两|克|g|kg|公斤)")),
    (QUALITY, 2.5, "用了…就坏", re.compile(r"(?:用了|才用|没用|不到)" + _NUMBER + r"\s*(?:天|次|周|个星期|个月|月)(?:就|便|都)")),
)

# Evaluative words, judged after an aspect. Negative wins over positive in one window.
NEGATIVE_EVAL = set("""差 很差 太差 较差 极差 超差 真差 好差 差劲 慢 很慢 太慢 超慢 巨慢 好慢 真慢 慢死 不好 不太好
                       不怎么样 不怎么 一般 一般般 垃圾 烂 太烂 很烂 恶劣 糟糕 不行 失望 坑 坑人 坑爹 问题 有问题
                       不快 不满意 不给力 粗糙 堪忧 不如 无语 麻烦 不合理 离谱 不靠谱 不专业 凑合 不咋地 不咋样
                       敷衍 傻 低劣 次 太次 很次 不理想 不达标 难 不足 不够 不准 不对 不标准 低 太低 很低""".split())
POSITIVE_EVAL = set("""快 很快 挺快 超快 非常快 蛮快 比较快 还快 神速 迅速 及时 好 很好 挺好 真好 不错 挺不错 很不错
                       还不错 满意 很满意 给力 很给力 完好 精美 精致 耐心 热情 周到 专业 可以 还可以 还行 没问题
                       好评 一流 严实 结实 细心 负责 认真 赞 棒 很棒 优秀 完美 漂亮 到位 贴心 nice 还好 合适 合身
                       正好 刚好 舒服 舒适 清晰 好用 好吃 新鲜 甜 耐用 流畅 快速 齐全 完整 一致 相符 符合""".split())
# Some aspects have their own evaluative words (a high price is bad, a high value for money good).
ASPECT_EVAL = {
    "价格": ({"贵", "太贵", "高", "太高", "偏高", "虚高", "不便宜", "不低"}, {"便宜", "实惠", "划算", "低", "公道", "合理", "美丽"}),
    "性价比": ({"低", "不高", "太低", "很低"}, {"高", "很高", "超高", "挺高"}),
}
ASPECT_EVAL["价钱"] = ASPECT_EVAL["售价"] = ASPECT_EVAL["价格"]
_COMPARED = ({"不一样", "不符", "不一致", "差别", "差距", "相差", "差太多", "完全不同", "不同", "两样", "不像", "差很多",
                "差别很大", "差距很大"}, {"一样", "一致", "相符", "符合", "差不多", "一模一样"})
for _word in """和图片 与图片 跟图片 和描述 跟描述 与描述 和宣传 和实物 与实物 跟实物 和照片 与照片 跟照片 和页面
                跟页面 和详情 和介绍 与介绍 和说明""".split():
    ASPECT_EVAL[_word] = _COMPARED

NEGATORS = set("不 没 没有 无 未 并不 并没有 并未 不是 不会 没什么 毫无 并非 从不 从没 从来不 从来没有 绝不 不算 不太 不怎么 别".split())
INTENSIFIERS = set("""太 很 非常 特别 超 超级 极 极其 真 真的 巨 相当 严重 十分 完全 根本 实在 简直 好 挺 蛮 贼 老
                      特 更 最 那么 这么 如此 越来越""".split())
POST_INTENSIFIERS = set("严重 厉害 死了 极了 透了 得很 得要命 太多 很多 一大堆 好几次 经常 总是".split())
SOFTENERS = set("不大 不明显 还好 可以接受 能接受 不影响 不多 一点点 没关系 无所谓 还行 凑合".split())
FILLERS = set("有 什么 太大 多 任何 明显 一点 一点儿 啥 怎么 感觉 发现 出现 的 会 能 是 也 都 还 就 说".split())
CONTRAST_WORDS = set("但 但是 可是 就是 不过 只是 然而 可惜 却 结果 谁知 没想到".split())
# Words that still complain about the goods when no cue names a cause (the 质量问题 fallback).
GENERAL_NEGATIVE = set("""差 很差 太差 差劲 垃圾 失望 很失望 太失望 后悔 退货 退了 差评 不满意 不行 一般 一般般 不好
                          坑 坑人 坑爹 上当 不推荐 别买 不会再 再也不 无语 郁闷 糟糕 烂 恶心 气人 不值 问题
                          有问题 毛病 不咋地 不怎么样 凑合 太烂 退款 换货 垃圾货 极差 超差 慢 太慢 很慢 不好用""".split())
STOPWORDS = set("""我们 你们 他们 这个 那个 这些 那些 一个 一下 一次 一直 已经 还是 就是 但是 可是 而且 因为
                   所以 如果 虽然 然后 还有 没有 不是 什么 怎么 这样 那样 自己 时候 现在 今天 昨天 东西 收到
                   买了 购买 这次 上次 之后 之前 以后 以前 感觉 觉得 真的 非常 比较 有点 一点 可以 知道 看到
                   说是 直接 结果 其实 本来 只是 还要 需要 问题 这么 那么 一样 时间 里面 大家 朋友 的话""".split())
_ONE_CHAR_PREFIXES = set("太很好真超巨挺较蛮特更最贼老不没")
_BUILT_IN_INTENSITY = ("太", "很", "非常", "特别", "超级", "极其", "严重")
_CLAUSE_END_PARTICLES = set("了 的 吧 啊 呀 哦 呢 啦 嘛".split())


def _entries(table: dict) -> Iterable[tuple[str, float, str]]:
    for cause, by_weight in table.items():
        for weight, words in by_weight.items():
            for word in words.split():
                yield cause, weight, word


def _build_lexicon() -> dict[str, tuple[str, float, str]]:
    lexicon: dict[str, tuple[str, float, str]] = {}
    for kind, table in (("complaint", COMPLAINTS), ("aspect", ASPECTS), ("product", PRODUCTS)):
        for cause, weight, word in _entries(table):
            word = word.lower()
            if word in lexicon:
                raise ValueError(f"cue {word!r} is listed twice ({lexicon[word][0]}, {cause})")
            lexicon[word] = (cause, weight, kind)
    return lexicon


LEXICON = _build_lexicon()


@dataclass(frozen=True)
class Suggestion:
    """A suggested cause, the cue words behind it and how sure the suggestion is (0..1)."""

    cause: str
    confidence: float
    score: float
    why: tuple[str, ...] = ()
    rule: str = "lexicon"   # lexicon | model | fallback_complaint | unclear | empty | shop_confirmed
    scores: dict[str, float] = field(default_factory=dict, compare=False)


# ---------------------------------------------------------------------------------------------
# jieba, initialised once, quietly, on first use
# ---------------------------------------------------------------------------------------------

_tokenizer = None
_tokenizer_lock = threading.Lock()


def tokenizer():
    """A private jieba tokenizer (the global one is left alone) that knows every cue word."""
    global _tokenizer
    if _tokenizer is None:
        with _tokenizer_lock:
            if _tokenizer is None:
                logging.getLogger("jieba").setLevel(logging.WARNING)  # its "Building prefix dict…" chatter
                segmenter = jieba.Tokenizer()
                segmenter.initialize()
                # Shorter words first, so a longer cue's frequency is computed over the new split.
                extra = set(LEXICON) | CONTAINERS | DAMAGE | NEGATIVE_EVAL | POSITIVE_EVAL | NEGATORS | SOFTENERS
                for word in sorted(extra, key=lambda w: (len(w), w)):
                    if len(word) > 1:
                        segmenter.add_word(word)
                _tokenizer = segmenter
    return _tokenizer


# ---------------------------------------------------------------------------------------------
# Reading a text
# ---------------------------------------------------------------------------------------------

_TAG = re.compile(r"<[^<>]{0,200}>")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202f\ufeff]")
_SPACES = re.compile(r"[ \t\u3000]+")
_CLAUSE = re.compile(r"([,.!?;:~，。！？；：、…\n\r\s]+)")


def normalise(text) -> str:
    """The text as the rules read it: clean, NFKC, lower case, at most MAX_CHARS characters."""
    if text is None:
        return ""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", "replace")
    elif not isinstance(text, str):
        text = str(text)
    text = text[: MAX_CHARS * 4].encode("utf-8", "replace").decode("utf-8")  # lone surrogates become "?"
    text = html.unescape(_TAG.sub(" ", text))
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub(" ", text).lower()
    return _SPACES.sub(" ", text).strip()[:MAX_CHARS]


def _clauses(text: str) -> list[tuple[str, bool]]:
    """(clause, ends with an exclamation mark)."""
    parts = _CLAUSE.split(text)
    clauses = []
    for index in range(0, len(parts), 2):
        clause = parts[index]
        if clause:
            separator = parts[index + 1] if index + 1 < len(parts) else ""
            clauses.append((clause, "!" in separator))
    return clauses


def _tokens(clause: str) -> list[str]:
    """Words of a clause; a word that merely wraps a cue ("太贵", "不卡", "售后服务") is split around it."""
    words = []
    for word in tokenizer().lcut(clause):
        word = word.strip()
        if not word:
            continue
        if word in LEXICON or word in NEGATIVE_EVAL or word in POSITIVE_EVAL or word in NEGATORS or len(word) < 2:
            words.append(word)
        elif word[0] in _ONE_CHAR_PREFIXES and word[1:] in LEXICON:
            words += [word[0], word[1:]]
        elif len(word) >= 3:
            words += _split_compound(word)
        else:
            words.append(word)
    return words


def _split_compound(word: str) -> list[str]:
    """jieba's dictionary sometimes joins a cue with its neighbour ("售后服务态度"); cut the longest known head or tail."""
    for cut in range(len(word) - 1, 1, -1):
        if word[:cut] in LEXICON:
            return [word[:cut], word[cut:]]
    for cut in range(1, len(word) - 1):
        if word[cut:] in LEXICON:
            return [word[:cut], word[cut:]]
    return [word]


def _negated(tokens: list[str], index: int) -> bool:
    for back in range(1, 4):
        if index - back < 0:
            return False
        word = tokens[index - back]
        if word in NEGATORS:
            return True
        if word not in FILLERS and word not in INTENSIFIERS:
            return False
    return False


def _intensity(tokens: list[str], index: int) -> float:
    if any(marker in tokens[index] for marker in _BUILT_IN_INTENSITY):  # "质量太差", "很卡": the cue says it itself
        return INTENSITY
    for back in (1, 2):
        if index - back >= 0 and tokens[index - back] in INTENSIFIERS:
            return INTENSITY
    if index + 1 < len(tokens) and tokens[index + 1] in POST_INTENSIFIERS:
        return INTENSITY
    return 1.0


def _softened(tokens: list[str], index: int) -> bool:
    return any(word in SOFTENERS for word in tokens[index + 1: index + 3])


def _polarity(tokens: list[str], index: int) -> tuple[int, float]:
    """How the words around an aspect judge it: -1 criticised, +1 praised, 0 mentioned; and intensity."""
    aspect = tokens[index]
    negative, positive = ASPECT_EVAL.get(aspect, (set(), set()))
    negative, positive = (negative | NEGATIVE_EVAL) - positive, positive | POSITIVE_EVAL
    found_negative = found_positive = False
    strength = 1.0
    window = []
    for offset in range(index + 1, min(len(tokens), index + 5)):
        if tokens[offset] in LEXICON and LEXICON[tokens[offset]][2] != "complaint":
            break  # the next aspect starts its own judgement
        window.append(offset)
    if index > 0:
        window.append(index - 1)
    for offset in window:
        word = tokens[offset]
        if word not in negative and word not in positive:
            continue
        if len(word) == 1 and word in positive and not _ends_clause(tokens, offset):
            continue  # a bare "好"/"快" inside a clause is a verb's complement ("安装好以后"), not praise
        is_negative = word in negative
        if offset > 0 and tokens[offset - 1] in NEGATORS and offset - 1 != index:
            is_negative = not is_negative
        if is_negative:
            found_negative = True
            if _intensity(tokens, offset) > 1 or word[0] in "太很超巨真极":
                strength = INTENSITY
        else:
            found_positive = True
    if found_negative:
        return -1, strength
    return (1, 1.0) if found_positive else (0, 1.0)


def _ends_clause(tokens: list[str], index: int) -> bool:
    return index + 1 == len(tokens) or tokens[index + 1] in _CLAUSE_END_PARTICLES


def _packaging_pair(tokens: list[str], containers: list[int], damage: list[int]) -> str:
    """"盒子+压烂" when damage follows a container closely and the container was not praised."""
    for container in containers:
        if _polarity(tokens, container)[0] > 0:
            continue
        for hurt in damage:
            between = tokens[container + 1: hurt]
            if container < hurt <= container + 5 and not any(word in INSIDE or word in LEXICON for word in between):
                return f"{tokens[container]}+{tokens[hurt]}"
    return ""


def _digest(normalised: str) -> str:
    return hashlib.blake2b(normalised.encode("utf-8"), digest_size=12).hexdigest()


# ---------------------------------------------------------------------------------------------
# Suggesting
# ---------------------------------------------------------------------------------------------


def _shop_lexicon(corrections) -> dict | None:
    if not corrections:
        return None
    if isinstance(corrections, Mapping) and corrections.get("version") == SHOP_LEXICON_VERSION and "cues" in corrections:
        return corrections
    if isinstance(corrections, Mapping):
        return learn(list(corrections.items()))
    return learn(corrections)  # (text, cause) pairs


def _read(text: str) -> list[tuple[str, bool, list[str]]]:
    """(clause, ends with "!", its words) for every clause: read once, used by the lexicon and the model."""
    return [(clause, exclaimed, _tokens(clause)) for clause, exclaimed in _clauses(text)]


def _score(text: str, shop: dict | None, read: list | None = None,
           learned_scores: dict[str, float] | None = None) -> tuple[dict[str, float], dict[str, Counter], bool]:
    """Lexicon scores, the cue words behind them, and whether the text complains at all.

    ``read`` is the text's ``_read`` when the caller has it; ``learned_scores``, when given, also
    receives what the shop's learned cues alone added to each cause.
    """
    scores: dict[str, float] = defaultdict(float)
    evidence: dict[str, Counter] = defaultdict(Counter)
    learned = shop["cues"] if shop else {}
    complains = False

    def add(cause: str, amount: float, cue: str) -> None:
        scores[cause] += amount
        evidence[cause][cue] += amount

    for clause, exclaimed, tokens in (read if read is not None else _read(text)):
        factor = (CONTRAST if any(word in CONTRAST_WORDS for word in tokens[:3]) or "却" in tokens else 1.0)
        factor *= EMPHASIS if exclaimed else 1.0
        containers, damage = [], []
        for index, word in enumerate(tokens):
            complains = complains or word in GENERAL_NEGATIVE
            if word in CONTAINERS:
                containers.append(index)
            if word in DAMAGE and not _negated(tokens, index):
                damage.append(index)
            cue = LEXICON.get(word)
            if cue is not None:
                cause, weight, kind = cue
                if kind == "complaint":
                    if _negated(tokens, index):
                        continue
                    amount = weight * _intensity(tokens, index) * (SOFTENED if _softened(tokens, index) else 1.0)
                else:
                    polarity, strength = _polarity(tokens, index)
                    if polarity > 0:
                        continue
                    if polarity < 0:
                        amount = weight * CRITICISED * strength
                        complains = True
                    else:
                        amount = weight * MENTIONED if kind == "aspect" else 0.0
                if amount:
                    add(cause, amount * factor, word)
            for cause, weight in learned.get(word, {}).items():
                if not _negated(tokens, index):
                    add(cause, weight * factor, word)
                    if learned_scores is not None:
                        learned_scores[cause] = learned_scores.get(cause, 0.0) + weight * factor
        pair = _packaging_pair(tokens, containers, damage)
        if pair:
            add(PACKAGING, PACKAGING_PAIR * factor, pair)
        for cause, weight, label, pattern in PATTERNS:
            if pattern.search(clause):
                add(cause, weight * factor, label)
                complains = True
    return scores, evidence, complains


def _decide(scores: dict[str, float], evidence: dict[str, Counter], complains: bool) -> Suggestion:
    rounded = {cause: round(score, 3) for cause, score in scores.items() if score > 0}
    if not rounded:
        if complains:
            return Suggestion(QUALITY, FALLBACK_CONFIDENCE["complaint"], 0.0, (), "fallback_complaint", {})
        return Suggestion(OTHER, FALLBACK_CONFIDENCE["unclear"], 0.0, (), "unclear", {})
    top = max(rounded.values())
    rank = {cause: position for position, cause in enumerate(ACTIONABLE_ORDER)}
    tied = [cause for cause, score in rounded.items() if score >= top - TIE_MARGIN]
    cause = min(tied, key=lambda c: (rank.get(c, len(rank)), -rounded[c], c))
    score = rounded[cause]
    runner_up = max((s for c, s in rounded.items() if c != cause), default=0.0)
    confidence = score / (score + runner_up) * (1 - math.exp(-score / 2))
    why = tuple(word for word, _ in evidence[cause].most_common(5))
    return Suggestion(cause, round(confidence, 3), score, why, "lexicon", rounded)


def _suggest_normalised(text: str, shop: dict | None) -> Suggestion:
    if not text:
        return Suggestion(OTHER, 0.0, 0.0, (), "empty", {})
    if shop:
        confirmed = shop.get("confirmed", {}).get(_digest(text))
        if confirmed:
            return Suggestion(confirmed, 1.0, 0.0, (), "shop_confirmed", {})
    read = _read(text)
    learned: dict[str, float] = {}
    scores, evidence, complains = _score(text, shop, read, learned)
    found = _decide(scores, evidence, complains)
    trained = model()
    if trained is None:
        return found
    return _mix(found, scores, learned, model_features(read), trained)


def suggest(text: str, *, corrections: dict | None = None) -> Suggestion:
    """The main cause of one negative review, with the cue words behind it (see the module doc).

    ``corrections`` is a shop lexicon from ``learn`` (or a ``{text: cause}`` mapping or a list of
    ``(text, cause)`` pairs, learned on the spot). Never raises on odd input: None, bytes, empty, huge or binary-looking text.
    """
    return _suggest_normalised(normalise(text), _shop_lexicon(corrections))


def suggest_many(texts: Iterable[str], *, corrections: dict | None = None) -> list[Suggestion]:
    """``suggest`` for many texts: jieba and the shop lexicon are prepared once, repeats are read once."""
    shop = _shop_lexicon(corrections)
    tokenizer()
    done: dict[str, Suggestion] = {}
    results = []
    for text in texts:
        key = normalise(text)
        if key not in done:
            done[key] = _suggest_normalised(key, shop)
        results.append(done[key])
    return results


# ---------------------------------------------------------------------------------------------
# The trained model (reviews/training/model.json, built by reviews/training/train.py)
# ---------------------------------------------------------------------------------------------

MODEL_FILE = Path(__file__).resolve().parent / "training" / "model.json"
MODEL_VERSION = 1
MIX_WEIGHTS = ("lexicon", "unclear", "praise", "complaint")
SHOP_WEIGHT = 3.0    # extra log-odds per unit of a shop's learned cue score (a design choice: no shop data to fit it on)
NEGATED_MARK = "¬"   # a complaint cue the lexicon found negated ("没有色差")
PRAISED_MARK = "+"   # an aspect or product the lexicon found praised ("物流很快")
_WORD_CHAR = re.compile(r"[\u4e00-\u9fffa-z0-9]")
_DIGITS = re.compile(r"\d")
_ABSENT = object()
_model = None
_model_lock = threading.Lock()


def model() -> dict | None:
    """The trained model, loaded once from MODEL_FILE; None (lexicon only) when it is absent or unreadable."""
    global _model
    if _model is None:
        with _model_lock:
            if _model is None:
                _model = load_model(MODEL_FILE) or _ABSENT
    return None if _model is _ABSENT else _model


def use_model(trained: dict | None) -> None:
    """Replace the loaded model (None: the lexicon alone); for the training script and tests."""
    global _model
    with _model_lock:
        _model = trained if trained is not None else _ABSENT


def load_model(path) -> dict | None:
    """A model file read into lookup tables, or None (logged) when it is missing, damaged or for other causes."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        if raw.get("version") != MODEL_VERSION or raw.get("classes") != list(DEFAULT_CAUSES):
            raise ValueError(f"version {raw.get('version')!r} or classes do not match this code")
        width = len(DEFAULT_CAUSES)
        weights = {feature: tuple(float(v) for v in values) for feature, values in raw["weights"].items()}
        bias = tuple(float(v) for v in raw["bias"])
        if len(bias) != width or any(len(values) != width for values in weights.values()):
            raise ValueError("a weight row has the wrong length")
        mix = {name: float(raw["mix"][name]) for name in MIX_WEIGHTS}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        logging.getLogger(__name__).warning("cause model %s not used (%s): suggesting with the lexicon alone", path, error)
        return None
    return {"bias": bias, "weights": weights, "mix": mix}


def _normal_word(word: str) -> str:
    return _DIGITS.sub("0", word)


def model_features(read: list[tuple[str, bool, list[str]]]) -> list[str]:
    """What the model reads in a text (from ``_read``): its words and character bigrams, sorted, each once.

    A complaint cue the lexicon finds negated, or an aspect it finds praised, becomes its own word
    (``¬色差``, ``+物流``) and is left out of the bigrams, so "没有色差" does not look like "色差";
    one more feature names its cause (``c:¬描述不符/尺寸``), so what is learned from one negated or
    praised cue carries over to the others of its cause.
    """
    features = set()
    for _, _, tokens in read:
        kept = []
        for index, word in enumerate(tokens):
            mark = ""
            cue = LEXICON.get(word)
            if cue is not None:
                if cue[2] == "complaint":
                    mark = NEGATED_MARK if _negated(tokens, index) else ""
                elif _polarity(tokens, index)[0] > 0:
                    mark = PRAISED_MARK
                if mark:
                    features.add(f"c:{mark}{cue[0]}")  # the cause of a negated or praised cue, whatever its word
            word = _normal_word(word)
            if _WORD_CHAR.search(word) and not word.isdigit():
                features.add("w:" + mark + word)
            kept.append(" " if mark else word)
        joined = "".join(kept)
        for first, second in zip(joined, joined[1:], strict=False):
            if _WORD_CHAR.match(first) and _WORD_CHAR.match(second) and not (first.isdigit() and second.isdigit()):
                features.add("b:" + first + second)
    return sorted(features)


def features(text) -> list[str]:
    """``model_features`` of a raw text (normalised first); what train.py learns from."""
    return model_features(_read(normalise(text)))


def model_log_probs(feature_list: Iterable[str], trained: dict) -> list[float] | None:
    """log P(cause | text) for DEFAULT_CAUSES from the linear model; None when it knows none of the features."""
    weights = trained["weights"]
    rows = [row for row in map(weights.get, feature_list) if row is not None]
    if not rows:
        return None
    return _log_softmax([bias + sum(column) for bias, column in zip(trained["bias"], zip(*rows, strict=True), strict=True)])


def _log_softmax(values: list[float]) -> list[float]:
    top = max(values)
    log_sum = top + math.log(sum(math.exp(value - top) for value in values))
    return [value - log_sum for value in values]


def lexicon_state(found: Suggestion, feature_list: Iterable[str] = ()) -> str:
    """What the lexicon saw: "cue" (a cue word), "complaint" (no cue but a complaint word), "praise"
    (no complaint, but a cue it found negated or praised: "一点都不卡", "物流很快") or "unclear"."""
    if found.rule == "unclear":
        praised = any(feature.startswith(("w:" + NEGATED_MARK, "w:" + PRAISED_MARK)) for feature in feature_list)
        return "praise" if praised else "unclear"
    return {"fallback_complaint": "complaint"}.get(found.rule, "cue")


def mixed_scores(lexicon_scores: Mapping[str, float], state: str, log_probs: list[float], mix: Mapping[str, float],
                 learned_scores: Mapping[str, float] | None = None) -> list[float]:
    """The score of every cause (DEFAULT_CAUSES order): model log-probability + weighted lexicon evidence.

    ``mix["lexicon"]`` weighs the lexicon's score; with no cue at all, ``mix["unclear"]`` and
    ``mix["praise"]`` favour 其他 and ``mix["complaint"]`` 质量问题, as the lexicon's own fallback
    does (``state`` from ``lexicon_state``). All four are chosen by
    cross-validation on the project's training texts (train.py). What a shop's learned cues add
    (``learned_scores``) counts ``SHOP_WEIGHT`` more on top: a shop's own corrections outrank a
    model trained on generic texts.
    """
    learned_scores = learned_scores or {}
    combined = []
    for cause, log_prob in zip(DEFAULT_CAUSES, log_probs, strict=True):
        value = log_prob + mix["lexicon"] * lexicon_scores.get(cause, 0.0) + SHOP_WEIGHT * learned_scores.get(cause, 0.0)
        if state in ("unclear", "praise") and cause == OTHER:
            value += mix[state]
        elif state == "complaint" and cause == QUALITY:
            value += mix["complaint"]
        combined.append(value)
    return combined


def _mix(found: Suggestion, scores: dict[str, float], learned: dict[str, float], feature_list: list[str],
         trained: dict) -> Suggestion:
    """The lexicon's suggestion, unless lexicon and model together favour another cause (rule "model")."""
    log_probs = model_log_probs(feature_list, trained)
    if log_probs is None:
        return found
    combined = mixed_scores(scores, lexicon_state(found, feature_list), log_probs, trained["mix"], learned)
    best = max(range(len(combined)), key=lambda index: (combined[index], -index))
    cause = DEFAULT_CAUSES[best]
    if cause == found.cause:
        return found
    probability = math.exp(_log_softmax(combined)[best])
    weights = trained["weights"]
    margins = []
    for feature in feature_list:
        row = weights.get(feature)
        if row is not None and feature.startswith("w:"):
            margin = row[best] - sum(row) / len(row)
            if margin > 0:
                margins.append((-margin, feature[2:]))
    why = tuple(word for _, word in sorted(margins)[:5])
    rounded = {c: round(score, 3) for c, score in scores.items() if score > 0}
    return Suggestion(cause, round(probability, 3), rounded.get(cause, 0.0), why, "model", rounded)


# ---------------------------------------------------------------------------------------------
# Learning from a shop's corrections
# ---------------------------------------------------------------------------------------------

_CONTENT = re.compile(r"[\u4e00-\u9fffa-z]")
_NOT_LEARNABLE = (NEGATORS | INTENSIFIERS | POST_INTENSIFIERS | SOFTENERS | FILLERS | CONTRAST_WORDS | NEGATIVE_EVAL
                  | POSITIVE_EVAL | GENERAL_NEGATIVE | STOPWORDS
                  | {word for word, (_, _, kind) in LEXICON.items() if kind == "product"})


def _content_words(text: str) -> set[str]:
    return {word for clause, _ in _clauses(text) for word in _tokens(clause)
            if len(word) >= 2 and _CONTENT.search(word) and word not in _NOT_LEARNABLE}


def learn(corrections: Iterable[tuple[str, str]]) -> dict:
    """A shop lexicon from (text, confirmed cause) pairs; pass it to ``suggest(corrections=...)``.

    Later pairs win for the same text. Pairs with an empty text or cause are skipped. A cause
    outside DEFAULT_CAUSES is kept as given (a shop may use its own).
    """
    texts: dict[str, str] = {}       # digest -> normalised text, for counting words only
    confirmed: dict[str, str] = {}   # digest -> cause
    for pair in corrections or ():
        try:
            text, cause = pair
        except (TypeError, ValueError):
            continue
        text = normalise(text)
        cause = str(cause).strip() if cause is not None else ""
        if text and cause:
            digest = _digest(text)
            texts[digest], confirmed[digest] = text, cause
    by_cause: dict[str, Counter] = defaultdict(Counter)
    overall: Counter = Counter()
    for digest, text in texts.items():
        words = _content_words(text)
        by_cause[confirmed[digest]].update(words)
        overall.update(words)
    cues: dict[str, dict[str, float]] = {}
    for cause, counts in sorted(by_cause.items()):
        for word, count in sorted(counts.items()):
            share = count / overall[word]
            if share >= LEARN_MIN_SHARE:
                cues.setdefault(word, {})[cause] = round(LEARN_WEIGHT * min(count, 3) * share, 3)
    return {"version": SHOP_LEXICON_VERSION, "cues": cues, "confirmed": confirmed, "examples": len(confirmed)}


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def suggest_csv(in_path, out_path, *, corrections: dict | None = None) -> int:
    """Read a CSV (or XLSX) with columns source_id,text; write source_id,cause; return the row count.

    Reading and writing go through ``spreadsheets`` (encodings, size limits, a BOM for Excel,
    formula-looking cells neutralised). Raises ``spreadsheets.ImportFileError`` for an unreadable
    file and ``ValueError`` when a column is missing.
    """
    in_path, out_path = Path(in_path), Path(out_path)
    table = spreadsheets.read_table(in_path.read_bytes(), in_path.name)
    headers = [header.strip().lower() for header in table.headers]
    missing = [name for name in ("source_id", "text") if name not in headers]
    if missing:
        raise ValueError(f"{in_path.name}: missing column(s) {', '.join(missing)}; expected source_id,text")
    id_column, text_column = headers.index("source_id"), headers.index("text")

    def cell(cells: list, column: int) -> str:
        return str(cells[column]) if column < len(cells) and cells[column] is not None else ""

    ids = [cell(cells, id_column).strip() for _, cells in table.rows]
    suggestions = suggest_many((cell(cells, text_column) for _, cells in table.rows), corrections=corrections)
    rows = [["source_id", "cause"], *([source_id, found.cause] for source_id, found in zip(ids, suggestions, strict=True))]
    with out_path.open("w", encoding="utf-8", newline="") as handle:
        for chunk in spreadsheets.csv_chunks(rows):
            handle.write(chunk)
    return len(ids)
