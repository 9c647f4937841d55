"""Language codes a watch may name: ISO 639-1 (two letters), as articles are tagged.

Pure. `language_problem` says what is wrong with a code and which one was meant: `english` and
`eng` are `en`. The tables are CLDR's English names and its three-letter aliases (from Babel,
which the tests check them against); a code outside them is refused, since no article would ever
carry it and the watch would never match.
"""

from __future__ import annotations

import difflib
import re
from typing import Final

# ISO 639-1 code, a space, its English name; `|` between.
_NAMES: Final = (
    "aa Afar|ab Abkhazian|ae Avestan|af Afrikaans|ak Akan|am Amharic|an Aragonese|ar Arabic|"
    "as Assamese|av Avaric|ay Aymara|az Azerbaijani|ba Bashkir|be Belarusian|bg Bulgarian|"
    "bi Bislama|bm Bambara|bn Bangla|bo Tibetan|br Breton|bs Bosnian|ca Catalan|ce Chechen|"
    "ch Chamorro|co Corsican|cr Cree|cs Czech|cu Church Slavic|cv Chuvash|cy Welsh|da Danish|"
    "de German|dv Divehi|dz Dzongkha|ee Ewe|el Greek|en English|eo Esperanto|es Spanish|"
    "et Estonian|eu Basque|fa Persian|ff Fula|fi Finnish|fj Fijian|fo Faroese|fr French|"
    "fy Western Frisian|ga Irish|gd Scottish Gaelic|gl Galician|gn Guarani|gu Gujarati|"
    "gv Manx|ha Hausa|he Hebrew|hi Hindi|ho Hiri Motu|hr Croatian|ht Haitian Creole|"
    "hu Hungarian|hy Armenian|hz Herero|ia Interlingua|id Indonesian|ie Interlingue|ig Igbo|"
    "ii Sichuan Yi|ik Inupiaq|io Ido|is Icelandic|it Italian|iu Inuktitut|ja Japanese|"
    "jv Javanese|ka Georgian|kg Kongo|ki Kikuyu|kj Kuanyama|kk Kazakh|kl Kalaallisut|km Khmer|"
    "kn Kannada|ko Korean|kr Kanuri|ks Kashmiri|ku Kurdish|kv Komi|kw Cornish|ky Kyrgyz|"
    "la Latin|lb Luxembourgish|lg Ganda|li Limburgish|ln Lingala|lo Lao|lt Lithuanian|"
    "lu Luba-Katanga|lv Latvian|mg Malagasy|mh Marshallese|mi Māori|mk Macedonian|"
    "ml Malayalam|mn Mongolian|mr Marathi|ms Malay|mt Maltese|my Burmese|na Nauru|"
    "nb Norwegian Bokmål|nd North Ndebele|ne Nepali|ng Ndonga|nl Dutch|nn Norwegian Nynorsk|"
    "no Norwegian|nr South Ndebele|nv Navajo|ny Nyanja|oc Occitan|oj Ojibwa|om Oromo|or Odia|"
    "os Ossetic|pa Punjabi|pi Pali|pl Polish|ps Pashto|pt Portuguese|qu Quechua|rm Romansh|"
    "rn Rundi|ro Romanian|ru Russian|rw Kinyarwanda|sa Sanskrit|sc Sardinian|sd Sindhi|"
    "se Northern Sami|sg Sango|sh Serbo-Croatian|si Sinhala|sk Slovak|sl Slovenian|sm Samoan|"
    "sn Shona|so Somali|sq Albanian|sr Serbian|ss Swati|st Southern Sotho|su Sundanese|"
    "sv Swedish|sw Swahili|ta Tamil|te Telugu|tg Tajik|th Thai|ti Tigrinya|tk Turkmen|"
    "tl Tagalog|tn Tswana|to Tongan|tr Turkish|ts Tsonga|tt Tatar|tw Twi|ty Tahitian|"
    "ug Uyghur|uk Ukrainian|ur Urdu|uz Uzbek|ve Venda|vi Vietnamese|vo Volapük|wa Walloon|"
    "wo Wolof|xh Xhosa|yi Yiddish|yo Yoruba|za Zhuang|zh Chinese|zu Zulu"
)
# ISO 639-2/3 three-letter codes of the same languages, as `eng=en`.
_ALIASES: Final = (
    "aar=aa abk=ab adp=dz afr=af aka=ak alb=sq als=sq amh=am ara=ar arb=ar arg=an arm=hy "
    "asm=as ava=av ave=ae aym=ay ayr=ay aze=az azj=az bak=ba bam=bm baq=eu bel=be ben=bn "
    "bis=bi bod=bo bos=bs bre=br bul=bg bur=my cat=ca ces=cs cha=ch che=ce chi=zh chu=cu "
    "chv=cv cls=sa cmn=zh cor=kw cos=co cre=cr cwd=cr cym=cy cze=cs dan=da deu=de div=dv "
    "drh=mn dut=nl dzo=dz ekk=et ell=el eng=en epo=eo esk=ik est=et eus=eu ewe=ee fao=fo "
    "fas=fa fij=fj fin=fi fra=fr fre=fr fry=fy fuc=ff ful=ff gaz=om geo=ka ger=de gla=gd "
    "gle=ga glg=gl glv=gv gre=el grn=gn gug=gn guj=gu hat=ht hau=ha heb=he her=hz hin=hi "
    "hmo=ho hrv=hr hun=hu hye=hy ibo=ig ice=is ido=io iii=ii ike=iu iku=iu ile=ie ina=ia "
    "ind=id ipk=ik isl=is ita=it jav=jv jpn=ja kal=kl kan=kn kas=ks kat=ka kau=kr kaz=kk "
    "khk=mn khm=km kik=ki kin=rw kir=ky kmr=ku knc=kr kng=kg kom=kv kon=kg kor=ko kpv=kv "
    "kua=kj kur=ku lao=lo lat=la lav=lv lim=li lin=ln lit=lt ltz=lb lub=lu lug=lg lvs=lv "
    "mac=mk mah=mh mal=ml mao=mi mar=mr may=ms mkd=mk mlg=mg mlt=mt mol=ro mon=mn mri=mi "
    "msa=ms mya=my nau=na nav=nv nbl=nr nde=nd ndo=ng nep=ne nld=nl nno=nn nob=nb nor=no "
    "npi=ne nya=ny oci=oc ojg=oj oji=oj ori=or orm=om ory=or oss=os pan=pa pbu=ps per=fa "
    "pes=fa pli=pi plt=mg pol=pl por=pt prp=gu pus=ps que=qu quz=qu roh=rm ron=ro rum=ro "
    "run=rn rus=ru sag=sg san=sa scc=sr scr=hr sin=si slk=sk slo=sk slv=sl sme=se smo=sm "
    "sna=sn snd=sd som=so sot=st spa=es sqi=sq src=sc srd=sc srp=sr ssw=ss sun=su swa=sw "
    "swe=sv swh=sw tah=ty tam=ta tat=tt tel=te tgk=tg tha=th tib=bo tir=ti ton=to tsn=tn "
    "tso=ts tuk=tk tur=tr twi=ak uig=ug ukr=uk urd=ur uzb=uz uzn=uz ven=ve vie=vi vol=vo "
    "wel=cy wln=wa wol=wo xho=xh ydd=yi yid=yi yor=yo zha=za zho=zh zsm=ms zul=zu zyb=za"
)

# Three-letter codes of languages with no two-letter one (`fil`, `yue`), CLDR's.
_OTHERS: Final = (
    "ace ach ada ady aeb afh agq ain akk akz ale aln alt ang ann anp apw arc arn aro arp arq "
    "ars arw ary arz asa ase ast atj avk awa bal ban bar bas bax bbc bbj bej bem bew bez bfd "
    "bfq bgc bgn bho bik bin bjn bkm bla blo blt bpy bqi bra brh brx bss bua bug bum byn byv "
    "cad car cay cch ccp ceb cgg chb chg chk chm chn cho chp chr chy cic ckb clc cop cps crg "
    "crh crj crk crl crm crr crs csb csw dak dar dav del den dgr din dje doi dsb dtp dua dum "
    "dyo dyu dzg ebu efi egl egy eka elx enm esu ewo ext fan fat fil fit fon frc frm fro frp "
    "frr frs fur gaa gag gan gay gba gbz gez gil glk gmh goh gon gor got grb grc gsw guc gur "
    "guz gwi hai hak haw hax hif hil hit hmn hnj hsb hsn hup hur iba ibb ikt ilo inh izh jam "
    "jbo jgo jmc jpr jrb jut kaa kab kac kaj kam kaw kbd kbl kcg kde kea kek ken kfo kgp kha "
    "kho khq khw kiu kkj kln kmb koi kok kos kpe krc kri krj krl kru ksb ksf ksh kum kut kwk "
    "kxv lad lag lah lam lez lfn lij lil liv lkt lld lmo lol lou loz lrc lsm ltg lua lui lun "
    "luo lus luy lzh lzz mad maf mag mai mak man mas mde mdf mdr men mer mfe mga mgh mgo mic "
    "mid min mnc mni moe moh mos mrj mua mul mus mwl mwr mwv mye myv mzn nan nap naq nds new "
    "nia niu njo nmg nnh nnp nog non nov nqo nso nus nwc nym nyn nyo nzi ojb ojc ojs ojw oka "
    "osa ota pag pal pam pap pau pcd pcm pdc pdt peo pfl phn pis pms pnt pon pqm prg pro quc "
    "qug raj rap rar rej rgn rhg rif rof rom rtm rue rug rup rwk sad sah sam saq sas sat saz "
    "sba sbp scn sco sdc sdh see seh sei sel ses sga sgs shi shn shu sid sjd sje sju slh sli "
    "sly sma smj smn sms snk sog srn srr ssy stq str suk sus sux swb syc syr szl tce tcy tem "
    "teo ter tet tgx tht tig tiv tkl tkr tlh tli tly tmh tog tok tpi tru trv trw tsd tsi ttm "
    "ttt tum tvl twq tyv tzm udm uga umb und vai vec vep vls vmf vmw vot vro vun wae wal war "
    "was wbp wuu xal xmf xnr xog yao yap yav ybb yrl yue zap zbl zea zen zgh zun zxx zza"
)

CODES: Final[dict[str, str]] = dict(entry.split(" ", 1) for entry in _NAMES.split("|"))
THREE_LETTER: Final[dict[str, str]] = dict(pair.split("=") for pair in _ALIASES.split())
OTHER_CODES: Final = frozenset(_OTHERS.split())
_BY_NAME: Final = {name.lower(): code for code, name in CODES.items()}
# Names people write that CLDR spells otherwise.
_BY_NAME.update({"bengali": "bn", "farsi": "fa", "persian": "fa", "chinese": "zh", "greek": "el"})
# And as their speakers name them.
_BY_NAME.update(
    {
        "deutsch": "de", "français": "fr", "francais": "fr", "español": "es", "espanol": "es",
        "italiano": "it", "português": "pt", "portugues": "pt", "nederlands": "nl",
        "polski": "pl", "русский": "ru", "українська": "uk", "беларуская": "be",
        "қазақ": "kk", "türkçe": "tr", "中文": "zh", "日本語": "ja", "한국어": "ko",
        "العربية": "ar", "עברית": "he", "svenska": "sv", "suomi": "fi", "norsk": "no",
        "dansk": "da", "čeština": "cs", "magyar": "hu", "română": "ro", "ελληνικά": "el",
    }
)  # fmt: skip
_SUBTAGS_RE: Final = re.compile(r"(-[A-Za-z0-9]{1,8})*")


def language_problem(tag: str) -> str | None:
    """What is wrong with a language tag (`en`, `zh-Hant`, `pt-BR`), with the code meant;
    None when it starts with a known ISO 639 code and any BCP 47 subtags follow it."""
    primary, _, _ = tag.partition("-")
    lower = primary.lower()
    if (lower in CODES or lower in OTHER_CODES) and _SUBTAGS_RE.fullmatch(tag[len(primary) :]):
        return None
    meant = _meant(tag.strip())
    if meant:
        name = CODES.get(meant.partition("-")[0], "")
        return f"{tag!r} is not a language code: did you mean `{meant}`" + (
            f" ({name})?" if name else "?"
        )
    return (
        f"{tag!r} is not a language code: write its ISO 639-1 code (two letters), such as en, "
        "ru, de or zh-Hant"
    )


def _meant(tag: str) -> str | None:
    if "_" in tag and language_problem(tag.replace("_", "-")) is None:
        return tag.replace("_", "-")
    text = tag.lower()
    primary = text.partition("-")[0]
    if primary in CODES:
        return primary
    if primary in THREE_LETTER:
        return THREE_LETTER[primary]
    if text in _BY_NAME:
        return _BY_NAME[text]
    close = difflib.get_close_matches(text, _BY_NAME, n=1, cutoff=0.75)
    return _BY_NAME[close[0]] if close else None
