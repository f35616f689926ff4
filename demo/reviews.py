"""Demo reviews (差评日清): six weeks of daily lists worked through ``reviews.worklist``, and today's half done.

The buyers' reviews are drawn day by day from a rate per cause, so the weekly cause chart has a story:
物流 (and a little 包装破损) rises in the last ``COURIER_CHANGE_DAYS`` days, after the shop changed its
courier; 安装使用 stays steady for the water heaters, range hoods and dishwashers. Each morning's list is
formed by the real rule and shared out among the reviewers; every earlier review has its cause confirmed,
most were contacted and handled the same day, and some buyers added a follow-up review (追评). Today's list
(yesterday's reviews, more than usual) is about half done: replied, linked to the demo case of the same
order, no action with a reason, buyers contacted with several outcomes, two follow-ups credited to the
contacts, and two reviews imported after the list formed. Good reviews (4–5 stars) of the last weeks make
the counts look like a shop's. Every text is the project's own; a few hold ``<``, ``>`` and ``&`` so the
demo shows them escaped.
"""

from __future__ import annotations

import bisect
import itertools
import random
import re
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from demo.cases import HOUR_WEIGHTS, PRODUCTS, Planner, _stamp_new_events
from models import Case, ReplyTemplate, Review, TimelineEvent, User, db, get_setting
from reviews import causes as cause_suggestion
from reviews import worklist
from reviews.importing import text_digest
from reviews.labels import DEFAULT_CAUSES, NEGATIVE_MAX_RATING

HISTORY_DAYS = 42          # earlier lists: six weeks of them
COURIER_CHANGE_DAYS = 16   # the shop changed its courier this many days ago
GOOD_REVIEW_DAYS = 21      # good reviews are spread over the last three weeks
GOOD_REVIEWS = (100, 120)
YESTERDAY_REVIEWS = (32, 38)

# Negative and middle reviews a day, per cause, before and after the courier change.
CAUSE_RATES = {
    "质量问题": (1.5, 1.5),
    "物流": (0.8, 2.6),
    "服务态度": (0.4, 0.4),
    "描述不符/尺寸": (0.8, 0.8),
    "少件错发": (0.6, 0.6),
    "安装使用": (1.1, 1.1),
    "价格": (0.4, 0.4),
    "包装破损": (0.5, 0.9),
    "其他": (0.3, 0.3),
}
MIDDLE_SHARE = 0.3  # of the listed reviews, 3 stars; the rest 1 or 2

# --- what the buyers sell and say ------------------------------------------------------------

# The listing title and variants of each demo product (demo.cases.PRODUCTS), and what a buyer calls it.
LISTINGS = {
    "实木餐桌": ("北欧实木餐桌 家用小户型长方形饭桌", ("原木色 1.4米", "胡桃色 1.6米", "原木色 1.2米+4椅"), "桌子"),
    "布艺沙发": ("科技布艺沙发 客厅小户型直排三人位", ("浅灰 三人位 2.1米", "奶白 四人位 2.6米"), "沙发"),
    "人体工学椅": ("人体工学椅 家用电脑椅 护腰办公椅", ("黑色 带脚托", "灰白 标准款"), "椅子"),
    "床头柜": ("实木床头柜 简约卧室收纳小柜", ("白橡色 两抽", "胡桃色 单抽"), "床头柜"),
    "推拉门衣柜": ("推拉门衣柜 卧室大衣柜 简约现代", ("暖白 1.6米", "浅灰 2.0米"), "衣柜"),
    "儿童书桌": ("儿童学习桌 可升降书桌 小学生写字桌", ("粉色 0.9米 桌椅套装", "蓝色 1.0米 单桌"), "书桌"),
    "电热水器": ("储水式电热水器 家用一级能效 速热", ("60升 2200W", "80升 3000W 变频"), "热水器"),
    "吸油烟机": ("侧吸式吸油烟机 家用大吸力", ("单烟机 标准款", "烟灶套装 天然气"), "油烟机"),
    "洗碗机": ("嵌入式洗碗机 13套 热风烘干", ("13套 嵌入式", "10套 台式"), "洗碗机"),
    "空气炸锅": ("可视空气炸锅 家用大容量 免翻面", ("5.5升 可视款", "4升 基础款"), "炸锅"),
    "扫地机器人": ("扫拖一体扫地机器人 自动集尘", ("自动集尘版", "标准版"), "扫地机"),
    "落地扇": ("落地扇 家用静音 遥控直流变频", ("七叶 遥控款", "五叶 机械款"), "风扇"),
    "羽绒服": ("90白鸭绒羽绒服女 中长款加厚", ("黑色 M", "米白 L", "雾蓝 S"), "羽绒服"),
    "牛仔裤": ("高腰直筒牛仔裤女 宽松显瘦阔腿裤", ("浅蓝 27", "深蓝 29"), "裤子"),
    "纯棉T恤": ("纯棉短袖T恤 男女同款 宽松重磅", ("白色 XL", "黑色 L"), "T恤"),
    "连衣裙": ("法式碎花连衣裙 收腰显瘦长裙", ("蓝色碎花 M", "黑色 S"), "裙子"),
    "运动鞋": ("透气运动鞋 减震轻便跑步鞋", ("白灰 40", "黑色 42", "白粉 37"), "鞋子"),
}
APPLIANCES_INSTALLED = ("电热水器", "吸油烟机", "洗碗机")

# What buyers write, per cause. A plain string fits every product; (text, fits) names the product lines
# ("furniture", "appliance", "clothes") or products it fits. {p} is what the buyer calls the product.
NEGATIVE = {
    "质量问题": (
        ("用了不到一个月{p}就坏了，这质量真不敢恭维", ("appliance",)),
        ("热水器用了两周开始漏水，卫生间地上全是水，吓死了", ("电热水器",)),
        ("加热到一半就跳闸，找电工看了线路没问题，就是机器的毛病", ("电热水器",)),
        ("吸力太小了，炒个辣椒整个厨房都是烟，开跟没开一样", ("吸油烟机",)),
        ("洗完碗上还有残渣，杯子上一层白印子，白花钱", ("洗碗机",)),
        ("用了三次锅里的涂层就开始掉，还敢拿来做吃的吗", ("空气炸锅",)),
        ("用了十天就一直报错，主刷不转了，重启也没用", ("扫地机器人",)),
        ("摇头的时候咔咔响，晚上根本没法开着睡觉", ("落地扇",)),
        ("桌面才用一个月就开裂了，还说是实木的", ("实木餐桌",)),
        ("坐了两个星期就塌下去一块，海绵太差了", ("布艺沙发",)),
        ("气杆不到一个月就往下掉，坐着坐着就矮了", ("人体工学椅",)),
        ("抽屉滑轨很涩，拉两下就卡住，用力一拽把手都松了", ("床头柜",)),
        ("升降的摇把摇不动了，孩子才用了一周", ("儿童书桌",)),
        ("钻毛严重，穿一天毛衣上全是白毛", ("羽绒服",)),
        ("洗了一次就掉色，把一起洗的白衣服全染蓝了", ("牛仔裤",)),
        ("洗一次领口就变形了，松松垮垮的，还说是重磅", ("纯棉T恤",)),
        ("线头一大堆，拉链也不顺，做工太粗糙了", ("连衣裙",)),
        ("穿了不到半个月鞋底就开胶了", ("运动鞋",)),
        ("刚到的{p}一股很重的味道，开窗放了一周还是刺鼻", ("furniture",)),
        ("<很差> 质量就这样，不会再买了", ("furniture", "appliance")),
        ("质量 & 做工都不行，跟几十块的地摊货一个样", ("clothes",)),
    ),
    "物流": (
        "下单六天才到，物流三天没更新，问客服只说在路上",
        "快递放驿站连个电话都没有，过了三天我才知道到了",
        ("送货的不送上楼，让我自己从楼下搬上六楼", ("furniture", "电热水器", "洗碗机")),
        "说好的次日达，第四天才送到，急用的东西等得心累",
        "快递员打电话说我不在家，直接就给退回去了",
        "显示已签收，我根本没收到，最后在隔壁小区的快递柜里找到",
        "发货倒是快，在中转站卡了四天，物流太慢",
        ("大件约好周六送货，等了一整天没人来，也没人通知", ("furniture", "appliance")),
        "物流显示派送中，等到晚上十点也没送来",
        "预计送达时间改了三次，一拖再拖",
        "快递送到了别的楼，我跑了两栋楼才找到",
        "写着48小时发货，第五天才发出来",
        "下单选的送货上门，结果让我去三公里外的网点自提",
        ("电梯房说不送上楼，要另外加五十块搬运费", ("furniture", "appliance")),
        "晚上九点打电话说马上到，等到十一点也没来",
    ),
    "服务态度": (
        "问客服三个问题回了一个，剩下的就不理人了",
        "客服一直是机器人自动回复，转人工等了半个小时",
        "售后推来推去，一会儿让找厂家一会儿让找快递，没人管",
        "客服说话很冲，好像是我在无理取闹",
        "答应给我回电话，等了两天都没有消息",
        "售前什么都说可以，买完售后就找不到人了",
        "<客服> 只会复制粘贴，什么问题都解决不了",
    ),
    "描述不符/尺寸": (
        ("详情页写宽1.4米，我量了只有1.35米，跟描述不符", ("实木餐桌",)),
        ("颜色和图片差太多，图上是浅灰，到手发黄", ("布艺沙发",)),
        ("说是静音，晚上开着嗡嗡响，跟宣传的完全两回事", ("落地扇", "洗碗机", "扫地机器人")),
        ("标的速热，加热时间比页面写的慢一倍", ("电热水器",)),
        ("尺码偏小一码，平时穿M，这件M紧得抬不起胳膊", ("羽绒服", "连衣裙", "纯棉T恤")),
        ("裤长和尺码表对不上，短了三四公分", ("牛仔裤",)),
        ("鞋子偏大半码，按平时的码数买的走路掉跟", ("运动鞋",)),
        ("实物颜色比图片暗很多，色差严重", ("clothes",)),
        ("页面说能后仰，实际角度很小，靠着一点都不舒服", ("人体工学椅",)),
        ("里面的隔板比图片少了一层，和描述的不一样", ("推拉门衣柜",)),
        ("页面写\"免安装\"，到了还要自己拧十几个螺丝", ("床头柜", "儿童书桌")),
        ("说是大容量，实际一只鸡都放不下", ("空气炸锅",)),
    ),
    "少件错发": (
        ("少发了一包螺丝，柜子装到一半装不下去了", ("推拉门衣柜", "床头柜", "儿童书桌")),
        ("买的灰色发来米白色，还要我自己寄回去换", ("布艺沙发", "人体工学椅", "羽绒服")),
        ("少了椅子腿的脚垫，地板都划花了", ("实木餐桌", "人体工学椅")),
        ("止回阀没有，安装师傅说少件装不了，白跑一趟", ("吸油烟机",)),
        ("少了混水阀，师傅到了装不了又走了", ("电热水器",)),
        ("下单的是L码，收到的是M码，吊牌上写的也是M", ("clothes",)),
        ("买了两件只收到一件，客服说分开发的，到现在也没见第二件", ("clothes",)),
        ("少了一个碗篮，打开一看里面空空的", ("洗碗机",)),
        ("没有边刷和滤网，配件包是空的", ("扫地机器人",)),
        ("发错型号了，我买的是遥控款，收到的是机械款", ("落地扇",)),
    ),
    "安装使用": (
        ("约了安装等了三天师傅才来，来了还说要另外加钱", APPLIANCES_INSTALLED),
        ("安装师傅打孔打歪了，墙上多了两个洞", ("电热水器", "吸油烟机")),
        ("装完第二天接口就漏水，师傅说不是他装的问题", ("电热水器", "洗碗机")),
        ("油烟机装歪了，烟管接口也没封好，一开就漏风", ("吸油烟机",)),
        ("师傅收了两百多的材料费，说标配的不够用，也不给票", APPLIANCES_INSTALLED),
        ("说明书太简单了，图都看不清，两个人装了一下午", ("furniture",)),
        ("孔位对不上，自己装不上，约师傅要等一个星期", ("furniture",)),
        ("APP一直连不上，重置了好几次也不行", ("扫地机器人",)),
        ("温度不知道怎么设置，说明书写得乱七八糟", ("电热水器",)),
        ("师傅上门不穿鞋套，装完一地垃圾就走了", APPLIANCES_INSTALLED),
    ),
    "价格": (
        "刚买完就降了一百多，找客服说不能保价",
        "活动价比平时还贵，感觉被套路了",
        "同款别家便宜好几十，这个价格不值",
        ("八十多的T恤跟地摊货一样", ("纯棉T恤",)),
        "下单第二天直播间就便宜了五十，问客服说活动已经结束",
    ),
    "包装破损": (
        ("外箱都压扁了，桌腿有磕碰的痕迹", ("实木餐桌", "儿童书桌")),
        ("箱子破了个大洞，机器外壳有划痕", ("appliance",)),
        ("就一层薄纸箱，到手柜子的角都磕坏了", ("床头柜", "推拉门衣柜")),
        ("泡沫全碎了，面板凹进去一块", ("吸油烟机", "洗碗机")),
        ("快递袋破了，衣服上全是灰", ("clothes",)),
        ("鞋盒压变形了，送人都不好意思", ("运动鞋",)),
        "外包装一看就被拆过，胶带是重新缠的，东西不敢用",
    ),
    "其他": (
        "发票催了好几次还没开",
        "说好的赠品没送，问了说活动结束了",
        "下单后想改地址，客服说改不了，只能退了重拍",
    ),
}

# Only after the courier change: buyers notice it.
NEGATIVE_AFTER_CHANGE = {
    "物流": (
        "这次怎么换快递了？以前两天就到，这次走了五天",
        "新换的快递太不靠谱，包裹直接扔在门口，电话都不打",
        "快递网点说件太多派不过来，让我自己去网点拿",
    ),
    "包装破损": (("换了快递以后箱子破成这样，里面的东西也磕了", ("furniture", "appliance")),),
}

MIDDLE = {
    "质量问题": (
        "东西还行，就是做工有点粗糙，边角有毛刺",
        ("风力可以，就是用久了有点小异响", ("落地扇",)),
        ("挺暖和的，就是有点钻毛", ("羽绒服",)),
        ("坐着还行，扶手有点晃", ("人体工学椅",)),
        ("能用，就是外壳很烫手", ("空气炸锅",)),
        ("好看，但是鞋底有点硬，走久了脚疼", ("运动鞋",)),
    ),
    "物流": (
        "东西没问题，物流太慢了，等了一个星期",
        "一般吧，快递放门口也不说一声",
        ("衣服还可以，就是快递太慢", ("clothes",)),
        "东西挺好，就是送货前没打电话，差点错过",
        "物流比预计晚了两天，其他还行",
        "快递柜放了两天才通知我，东西没问题",
    ),
    "服务态度": ("产品还行，客服回复太慢了", "东西凑合，售后态度一般", "客服回复挺慢的，不过最后解决了"),
    "描述不符/尺寸": (
        "颜色比图片深一点，还能接受",
        ("尺码偏大，换了一次才合适", ("clothes",)),
        ("比想象中小，放在客厅有点不搭", ("furniture",)),
    ),
    "少件错发": (
        ("少了一个小配件，客服说补发了，还没收到", ("furniture", "appliance")),
        ("发的颜色跟我选的不太一样，懒得换了", ("clothes",)),
    ),
    "安装使用": (
        ("师傅装得还行，就是比约的时间晚来了两个小时", APPLIANCES_INSTALLED),
        ("自己装的，花了三个多小时，说明书能再详细点就好了", ("furniture",)),
        ("说明书看了半天才明白，装好以后还行", ("furniture", "空气炸锅", "扫地机器人")),
    ),
    "价格": ("东西还可以，就是价格偏贵", "性价比一般，活动价也不便宜", "活动力度一般，不如上个月"),
    "包装破损": ("包装有点破，东西没坏，给个中评吧", ("外箱有点压痕，里面的东西倒是好的", ("furniture", "appliance"))),
    "其他": ("还没用，先给个中评", "买来送人的，不知道好不好用", "东西还没拆，先这样吧"),
}

GOOD = (
    ("桌子很稳，木纹好看，安装师傅也很专业", ("实木餐桌",)),
    ("坐感软硬适中，颜色很高级，客厅一下子好看了", ("布艺沙发",)),
    ("腰托很舒服，久坐也不累", ("人体工学椅",)),
    ("小巧实用，抽屉很顺滑", ("床头柜",)),
    ("很能装，推拉门很顺，安装师傅很细心", ("推拉门衣柜",)),
    ("可以升降，孩子很喜欢，做工扎实", ("儿童书桌",)),
    ("加热很快，一家四口洗澡够用，师傅装得很仔细", ("电热水器",)),
    ("吸力很大，炒菜没有油烟味了，声音也不大", ("吸油烟机",)),
    ("洗得很干净，解放双手，早该买了", ("洗碗机",)),
    ("做鸡翅很香，不用放油，清洗也方便", ("空气炸锅",)),
    ("很聪明，不会乱撞，自动集尘很省心", ("扫地机器人",)),
    ("风很柔，晚上开着睡觉几乎没声音", ("落地扇",)),
    ("很暖和，版型好看，不显胖", ("羽绒服",)),
    ("很显瘦，长度刚好", ("牛仔裤",)),
    ("料子厚实，洗了几次也不变形", ("纯棉T恤",)),
    ("很仙，面料舒服，收到就穿出门了", ("连衣裙",)),
    ("很轻，跑步脚感很好，尺码标准", ("运动鞋",)),
    "物流很快，包装很严实，好评",
    "客服很耐心，有问必答",
    "第二次回购了，一如既往的好",
    "和图片一样，质量不错",
    "东西不错，价格也实惠",
    "整体满意，推荐购买",
)
GOOD_WITH_A_BUT = (  # four stars
    "整体不错，就是物流稍微慢了一点",
    ("挺好的，安装说明可以再清楚些", ("furniture",)),
    "质量可以，颜色比图上略深",
)

# The buyer's follow-up review after a contact, per cause; and one that came without any contact.
FOLLOW_UPS = {
    "质量问题": ("客服联系后给换了新的，新的用着没问题", "师傅上门换了个配件，现在正常了"),
    "物流": ("后来客服帮忙催了快递，第二天就送到了，东西没问题", "商家打电话道歉了，东西收到了还可以"),
    "服务态度": ("后来客服主管打电话来道歉，问题也解决了",),
    "描述不符/尺寸": ("换了大一码的，这次合身了", "客服解释了测量方法，误差不大，可以接受"),
    "少件错发": ("补发的配件收到了，已经装好，挺稳的", "错发的已经换回来了，颜色对了"),
    "安装使用": ("又约了师傅上门重新装，现在不漏了", "客服发了安装视频，照着装好了"),
    "价格": ("客服解释了活动规则，理解了，东西本身还不错",),
    "包装破损": ("客服看了照片给换了新的，这次包装很好",),
    "其他": ("发票已经收到了，谢谢",),
}
FOLLOW_UPS_UNPROMPTED = ("用了一个月，还是那个问题，没有改善", "又用了几天，还是不太满意")

# Contact notes per outcome; resolved ones per cause.
RESOLVED_NOTES = {
    "质量问题": ("电话接通，已安排换新，买家同意", "约了师傅明天上门检测，买家满意"),
    "物流": ("电话接通，已向快递核实并致歉，包裹今天派送", "查到包裹在驿站，已把取件码发给买家"),
    "服务态度": ("组长回电致歉，说明了后续由专人跟进，买家接受",),
    "描述不符/尺寸": ("已为买家办理换码，买家同意", "解释了测量方法，并安排换货"),
    "少件错发": ("已补发缺少的配件，单号发给买家", "错发的已约上门取件，换发正确的款"),
    "安装使用": ("已重新约师傅明天上门", "发了安装视频，远程指导后装好了"),
    "价格": ("说明了活动时间和价保规则，符合规则的部分已按平台流程办理",),
    "包装破损": ("买家发了照片，已安排换新",),
    "其他": ("已补开发票，发到买家邮箱",),
}
CONTACT_NOTES = {
    "explained": ("电话接通，解释了原因，买家表示理解", "聊天里说明了情况，买家回复知道了", "已说明处理进度，买家说再等等看"),
    "unresolved": ("买家坚持要退货，已说明流程，未达成一致", "买家要求全额退款不退货，需组长判断", "买家对方案不满意，约好明天再联系"),
    "no_answer": ("电话未接通", "打了两次没人接，已留言", "聊天留言，买家未回复", "短信已发，暂无回复"),
    "refused": ("买家接了电话说不想谈，直接挂了", "买家表示不需要联系，请勿打扰"),
}
CHANNEL_WEIGHTS = {"phone": 55, "chat": 35, "sms": 10}
NOTE_CHANNELS = (("电话", "phone"), ("回电", "phone"), ("没人接", "phone"), ("聊天", "chat"), ("短信", "sms"))
REACHED_WEIGHTS = {"resolved": 35, "explained": 35, "unresolved": 15, "refused": 5}

NO_ACTION_REASONS = (
    "中评内容是使用建议，已记录并转给运营",
    "评价针对快递员，已反馈物流部跟进，不公开回复",
    "同一买家同一订单的重复评价，已在另一条统一处理",
    "问题已在售后单里处理完毕，不再公开解释",
)
REFUSED_REASON = "买家明确表示不希望被联系，按买家意愿不再打扰"
FOLLOWED_UP_REASON = "买家已追评说明问题解决，平台不再接受解释"

# The reply templates, one per default cause: the body between the brand's opening and closing lines.
TEMPLATES = {
    "质量问题": "非常抱歉商品给您带来了不好的体验。您反馈的问题我们已转给品控部门核查，售后客服会主动与您联系，"
               "按保修政策为您安排检测、维修或更换，请您放心。",
    "物流": "很抱歉让您久等了。您反馈的配送时效和派送服务问题，我们已向合作快递反馈并持续跟进。"
           "包裹如仍有异常，请联系客服，我们第一时间为您查询处理。",
    "服务态度": "对于客服沟通中让您不满意的地方，我们深表歉意。您的意见已转给客服主管，我们会加强培训、改进服务，"
               "后续问题将由专人跟进，直到为您处理好为止。",
    "描述不符/尺寸": "抱歉商品与您的预期有差距。我们已核对详情页的尺寸、颜色和参数说明，描述不清之处会尽快更正。"
                   "如需退换，客服会为您说明办理方式。",
    "少件错发": "非常抱歉出现少发或错发的情况。请您联系客服并提供订单号和开箱照片，我们核实后会尽快为您补发或更换，"
               "同时已提醒仓库加强出库核对。",
    "安装使用": "抱歉安装或使用过程中给您添了麻烦。我们可以为您预约师傅上门，或由技术客服远程指导操作，"
               "安装和使用视频也可以向客服索取。",
    "价格": "感谢您对价格的关注。商品价格会随平台活动有所变动，以下单时的页面为准；符合平台价保规则的订单，"
           "客服会按规则为您办理。",
    "包装破损": "很抱歉商品在运输途中出现破损。请您把外箱和商品的照片发给客服，我们核实后会按实际情况为您处理，"
               "同时已提醒仓库和快递加强包装与搬运保护。",
    "其他": "感谢您抽出时间留下评价，您的意见我们已经记录并转给相关部门。如有需要，我们会尽力为您处理。",
}
# Replies written for one buyer, per cause; {p} is what the buyer called the product.
REPLY_BODIES = {
    "质量问题": ("{p}出现这样的问题我们非常抱歉，售后已为您登记，会尽快安排检测或换新，给您添麻烦了。",),
    "物流": ("这次配送确实太慢了，非常抱歉。我们已向快递投诉并要求整改，也在重新评估合作的快递公司。",
           "包裹没有按约定送达，是我们没有跟进好。已要求快递核实派送过程，后续大件订单我们会提前电话确认送货时间。"),
    "服务态度": ("客服没有及时回复您，是我们的问题，已安排主管对接您的诉求。",),
    "描述不符/尺寸": ("您反馈的尺寸问题我们已核对，页面标注会尽快更正。需要换货的话客服随时为您办理。",),
    "少件错发": ("缺少的配件已为您补发，单号已同步到订单，请您留意查收。",),
    "安装使用": ("已为您重新预约师傅上门，师傅出发前会先电话联系您，给您带来的不便敬请谅解。",),
    "价格": ("价格变动给您带来不好的感受，我们很抱歉，价保的办理方式客服已在聊天里为您说明。",),
    "包装破损": ("您收到的{p}包装破损，我们很抱歉，已为您安排换新，也会要求仓库加固包装。",),
    "其他": ("您提到的问题我们已记录，客服会在今天内联系您。",),
}

# The demo cases a review can be linked to: case category -> the review's cause.
CASE_CATEGORY_CAUSE = {
    "damaged_on_arrival": "包装破损", "missing_accessory": "少件错发", "install": "安装使用", "logistics": "物流",
    "fault_in_use": "质量问题", "size_differs": "描述不符/尺寸", "wrong_whole": "少件错发",
}
CASE_CONTACT_NOTE = "电话接通，买家说的就是售后单{ref}的问题，已告知处理进度"

# Today's list: what has happened to each review so far, handed out in this order (the rest are to do).
TODAY_FATES = (
    "reply", "reply", "reply", "reply", "reply",
    "contact_reply", "contact_reply", "contact_reply",
    "two_attempts_reply", "contact_reply_follow_up",
    "no_action", "no_action", "no_action", "refused_no_action",
    "contacted", "contacted", "contacted", "not_reached", "not_reached",
    "contact_follow_up",
)
CONTACT_FATES = {"contact_reply", "two_attempts_reply", "contact_reply_follow_up", "refused_no_action", "contacted",
                 "not_reached", "contact_follow_up"}

MIN, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
_PRODUCT_LINE = {name: line for name, line, _, _ in PRODUCTS}


def create_reviews(rng: random.Random, now: datetime) -> tuple[int, int, int]:
    """Reply templates, six weeks of reviews and lists, and today's list half done.

    Returns (reviews created, reviews on today's list, of them handled); nothing when there are reviews already.
    """
    if db.session.scalar(sa.select(sa.func.count()).select_from(Review)):
        return 0, 0, 0
    create_templates()
    desk = _Desk(rng, now)
    if not desk.orders.shops or desk.fallback is None:
        db.session.commit()
        return 0, 0, 0
    listed, handled = desk.play()
    db.session.commit()
    return len(desk.made), listed, handled


def create_templates() -> None:
    """One reply template per default cause, unless a lead has written one."""
    kept = set(db.session.scalars(sa.select(ReplyTemplate.cause)))
    for cause in DEFAULT_CAUSES:
        if cause not in kept:
            db.session.add(ReplyTemplate(cause=cause, body=TEMPLATES[cause]))


def fits(product: str, keys: tuple[str, ...] | None) -> bool:
    return keys is None or product in keys or _PRODUCT_LINE[product] in keys


def entry(item) -> tuple[str, tuple[str, ...] | None]:
    """(text, fits) of a text table's item; a plain string fits every product."""
    return (item, None) if isinstance(item, str) else item


class _Desk:
    """Writes the reviews and works the lists; everything random comes from ``rng``, in a fixed order."""

    def __init__(self, rng: random.Random, now: datetime):
        self.rng, self.now = rng, now
        self.zone = current_app.config["SHOP_TZ"]
        self.orders = Planner(rng, now)  # the demo shops, order numbers and nicknames as each platform writes them
        self.today = worklist.shop_date(now, self.zone)
        self.people = {user.id: user for user in db.session.scalars(sa.select(User).where(User.active))}
        sharing = worklist.reviewers()
        self.fallback = sharing[0] if sharing else next(
            (user for user in self.people.values() if user.can("work_reviews")), None)
        self.hours = list(itertools.accumulate(HOUR_WEIGHTS))
        self.opening = get_setting("review_reply_opening")
        self.closing = get_setting("review_reply_closing")
        self.made: list[Review] = []
        self.cause_of: dict[int, str] = {}     # id(review) -> the cause its text was written for
        self.product_of: dict[int, str] = {}   # id(review) -> the product's name
        self.last_step: dict[int, datetime] = {}
        self.written: set[tuple] = set()       # (day, text) drawn, so that one day's reviews repeat no text

    def play(self) -> tuple[int, int]:
        """All the reviews written and imported, then each morning's list formed and worked, oldest first."""
        by_day = {}
        for back in range(HISTORY_DAYS, 0, -1):
            list_day = self.today - timedelta(days=back)
            by_day[list_day] = self.drafts_of(list_day - DAY, after_change=back <= COURIER_CHANGE_DAYS)
        yesterday, linked = self.yesterday_drafts()
        self.good_reviews()
        listed = [item for items in [*by_day.values(), yesterday] for item in items]
        for item in listed:
            item.created_at = self.imported_at(item.reviewed_at)
        self.suggest(listed)
        db.session.add_all(self.made)
        db.session.flush()
        for list_day, items in sorted(by_day.items()):
            formed = self.forms_at(list_day)
            worklist.form_list(list_day, formed, self.zone)
            _stamp_new_events(formed)
            for item in sorted(items, key=lambda item: item.reviewed_at):
                self.work_earlier(item, list_day, formed)
        result = self.work_today(yesterday, linked)
        for item in self.made:
            item.updated_at = self.last_step.get(id(item), item.created_at)
        return result

    # writing reviews ----------------------------------------------------------------------------

    def moment_on(self, day, not_before: datetime | None = None) -> datetime:
        """A local time on ``day`` when buyers write (evenings busy, nights quiet)."""
        hour = bisect.bisect(self.hours, self.rng.random() * self.hours[-1])
        local = datetime(day.year, day.month, day.day, hour, tzinfo=self.zone) + timedelta(seconds=self.rng.randrange(3600))
        if not_before is not None and local < not_before:
            local = min(not_before + (worklist.day_bounds(day, self.zone)[1] - not_before) * self.rng.uniform(0.1, 0.9),
                        worklist.day_bounds(day, self.zone)[1] - MIN)
        return min(local, self.now - 5 * MIN)

    def draft(self, cause: str, day, *, middle: bool, pool: tuple = (), product: str | None = None, **order) -> Review:
        """A negative or middle review of ``cause`` written on ``day``; ``pool`` replaces the cause's texts,
        ``order`` (shop, order_no, nick, not_before) names the order it is about."""
        rng = self.rng
        if middle and not pool and all((day, entry(item)[0]) in self.written for item in MIDDLE[cause]):
            middle = False  # the day's middle reviews of this cause said everything already
        texts = pool or (MIDDLE if middle else NEGATIVE)[cause]
        if product is not None:
            texts = [item for item in texts if fits(product, entry(item)[1])] or [
                item for item in MIDDLE[cause] if fits(product, entry(item)[1])] or texts
        texts = [item for item in texts if (day, entry(item)[0]) not in self.written] or texts  # a day repeats no text
        text, keys = entry(rng.choice(texts))
        self.written.add((day, text))
        product = product or rng.choice([name for name, *_ in PRODUCTS if fits(name, keys)])
        if middle:
            rating = 3
        else:
            rating = 1 if rng.random() < 0.62 else 2
            text += rng.choice(("", "", "", "。", "！", "，差评！", "，失望。", "，不推荐", "，希望商家重视"))
        pictures = rng.choice((0, 0, 1, 2, 3, 4)) if cause in ("质量问题", "包装破损", "少件错发") and not middle else 0
        at = self.moment_on(day, order.pop("not_before", None))
        item = self.review(product, rating, text.format(p=LISTINGS[product][2]), at, pictures, **order)
        self.cause_of[id(item)] = cause
        return item

    def review(self, product: str, rating: int, text: str, at: datetime, pictures: int = 0, *, shop=None,
               order_no: str | None = None, nick: str | None = None) -> Review:
        rng = self.rng
        shop = shop or rng.choices(self.orders.shops, self.orders.shop_weights)[0]
        title, skus, _ = LISTINGS[product]
        item = Review(platform=shop.platform, shop_id=shop.id, platform_review_id=self.review_id(shop.platform),
                      order_no=order_no or self.orders.order_no(shop.platform, at - timedelta(days=rng.uniform(3, 12))),
                      buyer_nick=nick or self.orders.nickname(shop.platform), product=title, sku=rng.choice(skus),
                      rating=rating, text=text, text_digest=text_digest(text), reviewed_at=at, picture_count=pictures,
                      created_at=at)
        self.made.append(item)
        self.product_of[id(item)] = product
        return item

    def review_id(self, platform: str) -> str:
        """The review's number as each platform's export writes it."""
        rng = self.rng
        if platform in ("tmall", "taobao"):
            return str(rng.randrange(10**12, 10**13))
        if platform.startswith("jd"):
            return str(rng.randrange(10**10, 10**11))
        if platform == "douyin":
            return "7" + f"{rng.randrange(10**18):018d}"
        return "".join(rng.choice("0123456789abcdef") for _ in range(24))

    def drafts_of(self, day, *, after_change: bool) -> list[Review]:
        """The negative and middle reviews written on ``day``, by the rate of each cause."""
        return [self.cause_draft(cause, day, after_change=after_change)
                for cause, rates in CAUSE_RATES.items() for _ in range(int(rates[after_change] + self.rng.random()))]

    def cause_draft(self, cause: str, day, *, after_change: bool) -> Review:
        middle = self.rng.random() < MIDDLE_SHARE
        pool = ()
        if not middle and after_change and cause in NEGATIVE_AFTER_CHANGE and self.rng.random() < 0.4:
            pool = NEGATIVE_AFTER_CHANGE[cause]
        return self.draft(cause, day, middle=middle, pool=pool)

    def yesterday_drafts(self) -> tuple[list[Review], dict[int, Case]]:
        """Yesterday's reviews, more than on an ordinary day: two with markup-like characters, and up to two
        on the orders of demo cases (returned as {id(review): case})."""
        rng, yesterday = self.rng, self.today - DAY
        made, linked = [], {}
        marked = [(cause, item) for cause, items in NEGATIVE.items() for item in items if re.search(r"[<>&]", entry(item)[0])]
        for cause, item in rng.sample(marked, 2):
            made.append(self.draft(cause, yesterday, middle=False, pool=(item,)))
        for case, product in self.cases_to_link(2):
            cause = CASE_CATEGORY_CAUSE[case.category]
            item = self.draft(cause, yesterday, middle=False, product=product, shop=case.shop, order_no=case.order_no,
                              nick=case.buyer_nick, not_before=case.received_at)
            made.append(item)
            linked[id(item)] = case
        causes, weights = list(CAUSE_RATES), [rates[1] for rates in CAUSE_RATES.values()]
        for _ in range(rng.randint(*YESTERDAY_REVIEWS) - len(made)):
            made.append(self.cause_draft(rng.choices(causes, weights)[0], yesterday, after_change=True))
        return made, linked

    def cases_to_link(self, count: int) -> list[tuple[Case, str]]:
        """Recent demo cases about a product, whose buyer could have written a review yesterday (open ones first)."""
        start = worklist.day_bounds(self.today - DAY, self.zone)[0]
        shop_ids = [shop.id for shop in self.orders.shops]
        # a bulk-loaded case has only its "created" event: its timeline would not show the work a review links to
        worked = sa.exists().where(TimelineEvent.subject_type == "case", TimelineEvent.subject_id == Case.id,
                                   TimelineEvent.action == "milestone")
        found = []
        for case in db.session.scalars(sa.select(Case).where(
                worked, Case.category.in_(CASE_CATEGORY_CAUSE), Case.shop_id.in_(shop_ids),
                Case.received_at >= start - timedelta(days=12), Case.received_at < start + 20 * HOUR).order_by(Case.id)):
            product = next((name for name, *_ in PRODUCTS if name in case.summary), None)
            if product is not None:
                found.append((case.state == "closed", case, product))
        found = [(case, product) for _, case, product in sorted(found, key=lambda row: row[0])][:12]
        chosen = []
        while found and len(chosen) < count:  # different problems and products, so the two read differently
            case, product = self.rng.choice(found)
            chosen.append((case, product))
            found = [row for row in found if row[0].category != case.category and row[1] != product]
        return chosen

    def good_reviews(self) -> None:
        rng = self.rng
        for _ in range(rng.randint(*GOOD_REVIEWS)):
            day = self.today - timedelta(days=rng.randint(1, GOOD_REVIEW_DAYS))
            four = rng.random() < 0.2
            text, keys = entry(rng.choice(GOOD_WITH_A_BUT if four else GOOD))
            product = rng.choice([name for name, *_ in PRODUCTS if fits(name, keys)])
            item = self.review(product, 4 if four else 5, text, self.moment_on(day), rng.choice((0, 0, 0, 1, 3)))
            item.created_at = self.imported_at(item.reviewed_at)

    def imported_at(self, reviewed_at: datetime) -> datetime:
        """The morning import after the review was written, before that day's list forms."""
        forms = self.forms_at(worklist.shop_date(reviewed_at, self.zone) + DAY)
        return max(reviewed_at + MIN, min(forms - timedelta(minutes=self.rng.uniform(2, 60)), self.now - 2 * MIN))

    def suggest(self, reviews: list[Review]) -> None:
        for item, found in zip(reviews, cause_suggestion.suggest_many([item.text for item in reviews]), strict=True):
            item.suggested_cause = found.cause

    # the steps ---------------------------------------------------------------------------------

    def forms_at(self, day) -> datetime:
        """When ``day``'s list formed: the list time, or early this morning when the demo loads before it."""
        forms = worklist.list_forms_at(day, self.zone)
        if day == self.today and forms > self.now - 30 * MIN:
            start = worklist.day_bounds(day, self.zone)[0]
            forms = start + (self.now - start) * 0.25
        return forms

    def step(self, item: Review, at: datetime, action):
        """One step at the moment it happened: its timeline events carry that moment. The rules read settings
        on every call; without a flush before each read, six weeks of steps load several times faster."""
        with db.session.no_autoflush:
            result = action()
        _stamp_new_events(at)
        self.last_step[id(item)] = at
        return result

    def actor(self, item: Review) -> User:
        return self.people.get(item.assignee_id) or self.fallback

    def classify(self, item: Review, at: datetime) -> None:
        self.step(item, at, lambda: worklist.set_cause(item, self.cause_of[id(item)], self.actor(item)))

    def contact(self, item: Review, at: datetime, outcome: str, channel: str | None = None, note: str | None = None):
        rng = self.rng
        channel = channel or rng.choices(list(CHANNEL_WEIGHTS), list(CHANNEL_WEIGHTS.values()))[0]
        if channel == "sms" and outcome != "no_answer":
            channel = "chat"  # a buyer who answers, answers in the chat
        if note is None:
            notes = RESOLVED_NOTES[self.cause_of[id(item)]] if outcome == "resolved" else CONTACT_NOTES[outcome]
            note = rng.choice(notes)
        channel = next((said for word, said in NOTE_CHANNELS if word in note), channel)  # the note names the channel
        return self.step(item, at, lambda: worklist.record_contact(item, self.actor(item), channel, outcome, note, at,
                                                                   self.now))

    def reached(self) -> str:
        return self.rng.choices(list(REACHED_WEIGHTS), list(REACHED_WEIGHTS.values()))[0]

    def handle(self, item: Review, at: datetime, outcome: str, **details) -> None:
        self.step(item, at, lambda: worklist.handle(item, self.actor(item), outcome, at, **details))

    def reply(self, item: Review) -> str:
        """The brand's opening, the cause's template or a reply written for this buyer, the closing."""
        cause = self.cause_of[id(item)]
        if self.rng.random() < 0.5:
            body = TEMPLATES[cause]
        else:
            body = self.rng.choice(REPLY_BODIES[cause]).format(p=LISTINGS[self.product_of[id(item)]][2])
        return self.opening + body + self.closing

    def follow_up(self, item: Review, texts: tuple, at: datetime) -> None:
        if at < self.now - MIN:
            self.step(item, at, lambda: worklist.record_follow_up(item, self.rng.choice(texts), at, None, self.now))

    # earlier lists ------------------------------------------------------------------------------

    def work_earlier(self, item: Review, list_day, formed: datetime) -> None:
        """Classified, perhaps contacted (twice when not reached), handled that day or a little later, and now
        and then a follow-up review; a few of the last two days' lists are still open."""
        rng = self.rng
        at = formed + timedelta(minutes=rng.uniform(5, 300))
        if at >= self.now:
            return
        self.classify(item, at)
        contact = None
        if rng.random() < (0.65 if item.rating <= NEGATIVE_MAX_RATING else 0.25):
            at += timedelta(minutes=rng.uniform(5, 120))
            if at < self.now:
                contact = self.contact(item, at, "no_answer" if rng.random() < 0.25 else self.reached())
            if contact is not None and contact.outcome == "no_answer" and rng.random() < 0.6:
                at += timedelta(minutes=rng.uniform(60, 300))
                if at < self.now:
                    contact = self.contact(item, at, self.reached())
        late = rng.random()
        if late < 0.84:
            end = worklist.day_bounds(list_day, self.zone)[1] - 10 * MIN
            handled_at = max(min(at + timedelta(minutes=rng.uniform(10, 180)), end), at + MIN)
        else:
            handled_at = worklist.list_forms_at(list_day + timedelta(days=1 if late < 0.96 else 2), self.zone) + \
                timedelta(minutes=rng.uniform(20, 400))
        if handled_at < self.now - MIN:
            if contact is not None and contact.outcome == "refused":
                self.handle(item, handled_at, "no_action", note=REFUSED_REASON)
            elif rng.random() < (0.75 if item.rating <= NEGATIVE_MAX_RATING else 0.55):
                self.handle(item, handled_at, "replied", reply=self.reply(item))
            else:
                self.handle(item, handled_at, "no_action", note=rng.choice(NO_ACTION_REASONS))
        if contact is not None and contact.outcome in ("resolved", "explained") and rng.random() < 0.6:
            self.follow_up(item, FOLLOW_UPS[self.cause_of[id(item)]], handled_at + timedelta(hours=rng.uniform(2, 40)))
        elif contact is None and rng.random() < 0.05:
            self.follow_up(item, FOLLOW_UPS_UNPROMPTED, handled_at + timedelta(hours=rng.uniform(6, 60)))

    # today's list ------------------------------------------------------------------------------------

    def work_today(self, yesterday: list[Review], linked: dict[int, Case]) -> tuple[int, int]:
        """Form today's list, work about half of it, and let two late reviews join; returns (listed, handled)."""
        rng = self.rng
        formed = self.forms_at(self.today)
        worklist.form_list(self.today, formed, self.zone)
        _stamp_new_events(formed)
        pool = [item for item in yesterday if id(item) not in linked]
        rng.shuffle(pool)
        fates = {}
        for fate in TODAY_FATES:
            wanted = fate in CONTACT_FATES
            chosen = next((item for item in pool if (item.rating <= NEGATIVE_MAX_RATING) == wanted), pool[0] if pool else None)
            if chosen is None:
                break
            pool.remove(chosen)
            fates[id(chosen)] = fate
        start, end = formed + 3 * MIN, self.now - 3 * MIN
        for item in sorted(yesterday, key=lambda item: item.reviewed_at):
            if id(item) in linked:
                self.work_linked(item, linked[id(item)], start, end)
            elif id(item) in fates:
                self.work_fate(item, fates[id(item)], start, end)
        self.late_joiners(formed)
        figures = worklist.day_figures(self.today, self.zone).overall
        return figures.due, figures.handled

    def moments(self, start: datetime, end: datetime, count: int) -> list[datetime]:
        """``count`` moments in order between ``start`` and ``end``."""
        span = max(end - start, timedelta(seconds=count))
        return sorted(start + span * self.rng.random() for _ in range(count))

    def work_linked(self, item: Review, case: Case, start: datetime, end: datetime) -> None:
        first, second, third = self.moments(start, end, 3)
        self.classify(item, first)
        self.contact(item, second, "explained", channel="phone", note=CASE_CONTACT_NOTE.format(ref=case.reference))
        self.handle(item, third, "case", case=case)

    def work_fate(self, item: Review, fate: str, start: datetime, end: datetime) -> None:
        rng = self.rng
        steps = {"reply": 2, "no_action": 2, "contacted": 2, "not_reached": 1, "contact_reply": 3, "refused_no_action": 3,
                 "contact_follow_up": 3, "two_attempts_reply": 4, "contact_reply_follow_up": 4}[fate]
        at = iter(self.moments(start, end, steps))
        if fate == "not_reached":
            self.contact(item, next(at), "no_answer", channel=rng.choice(("phone", "sms")))
            return
        self.classify(item, next(at))
        if fate == "reply":
            self.handle(item, next(at), "replied", reply=self.reply(item))
        elif fate == "no_action":
            self.handle(item, next(at), "no_action", note=rng.choice(NO_ACTION_REASONS))
        elif fate == "contacted":
            self.contact(item, next(at), rng.choice(("explained", "unresolved", "unresolved")))
        elif fate == "refused_no_action":
            self.contact(item, next(at), "refused", channel="phone")
            self.handle(item, next(at), "no_action", note=REFUSED_REASON)
        elif fate == "contact_follow_up":
            self.contact(item, next(at), "resolved")
            self.follow_up(item, FOLLOW_UPS[self.cause_of[id(item)]], next(at))
        else:  # contacted (once or twice), replied, and perhaps the buyer's follow-up review after it
            if fate == "two_attempts_reply":
                self.contact(item, next(at), "no_answer", note="电话未接通，稍后再打")
            outcome = "resolved" if fate == "contact_reply_follow_up" else rng.choice(("resolved", "explained"))
            self.contact(item, next(at), outcome)
            self.handle(item, next(at), "replied", reply=self.reply(item))
            if fate == "contact_reply_follow_up":
                self.follow_up(item, FOLLOW_UPS[self.cause_of[id(item)]], next(at))

    def late_joiners(self, formed: datetime) -> None:
        """Two reviews written late yesterday that came with an import after the list formed: they join it, late."""
        yesterday = self.today - DAY
        evening = worklist.day_bounds(yesterday, self.zone)[1] - 2 * HOUR
        late = [self.draft(cause, yesterday, middle=middle, not_before=evening)
                for cause, middle in (("物流", False), ("描述不符/尺寸", True))]
        imported = formed + (self.now - formed) * 0.6
        for item in late:
            item.created_at = imported
        self.suggest(late)
        db.session.add_all(late)
        db.session.flush()
        worklist.place_new(late, self.zone)
